package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/eddy-video/eddy/server/servertest"
)

// corruptFragment flips a byte inside the fragment record which finds in
// every segment file under dir that holds fragment records ("EFR1"): the
// log's CRC then refuses it on read, as a damaged disk would. It reports
// how many files it changed.
func corruptFragment(t *testing.T, dir string, which func(b []byte) int) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		i := which(b)
		if i < 0 || i+200 > len(b) {
			return nil
		}
		b[i+150] ^= 0xff
		n++
		return os.WriteFile(path, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadErrorsBeforeFirstByte: a fragment that is listed but cannot be
// read gets an error from every read (an AWS error type with its HTTP
// status, or HLS's 500 with a reason), never a 200 with an empty body.
func TestReadErrorsBeforeFirstByte(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	am := e.ArchivedMedia()
	from := time.Now().Add(-time.Second)
	cam := newCamera(t, e.RTSPURL("cam"))
	if _, err := cam.run(0, 50, tick/25, 5*time.Millisecond, 10, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cam.c.Close()
	frags := settledFragments(ctx, t, am, "cam", from)
	first := frags[0] // Eddy lists in fragment order
	playlist := hlsPlaylistURL(ctx, t, am, "cam", from)
	if corruptFragment(t, e.Dir, firstRecord) == 0 {
		t.Fatal("no fragment record found on disk")
	}

	body, _ := json.Marshal(map[string]any{"StreamName": "cam", "Fragments": []string{aws.ToString(first.FragmentNumber)}})
	if a := postKVS(t, e.URL, "/getMediaForFragmentList", body); a.Status < 400 || a.Type == "" || a.Message == "" {
		t.Errorf("GetMediaForFragmentList of an unreadable fragment: %+v", a)
	}
	start := aws.ToTime(first.ServerTimestamp)
	body, _ = json.Marshal(map[string]any{"StreamName": "cam", "ClipFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
		"TimestampRange": map[string]any{"StartTimestamp": float64(start.UnixMilli()) / 1000, "EndTimestamp": float64(start.UnixMilli())/1000 + 0.1}}})
	if a := postKVS(t, e.URL, "/getClip", body); a.Status < 400 || a.Type == "" {
		t.Errorf("GetClip of an unreadable fragment: %+v", a)
	}
	q := url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {start.Add(100 * time.Millisecond).Format(time.RFC3339Nano)}, "timestamps": {"server"}}
	if status, _, b := httpGet(t, e.URL+"/api/v1/streams/cam/clip.mp4?"+q.Encode()); status < 400 || len(b) == 0 {
		t.Errorf("clip.mp4 of an unreadable fragment: %d %q", status, b)
	}
	segs := playlistURIs(playlist, getOK(t, playlist))
	if status, _, b := httpGet(t, segs[0]); status != 500 || !bytes.Contains([]byte(b), []byte("cannot be read")) {
		t.Errorf("HLS segment of an unreadable fragment: %d %q", status, b)
	}
}

// TestReadErrorAfterFirstBytes: a GetMediaForFragmentList answer whose
// last fragment cannot be read, after more than the buffered 256 KiB has
// gone out, is cut (the client reads an unexpected end), never ended as
// if complete.
func TestReadErrorAfterFirstBytes(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	from := time.Now().Add(-time.Second)
	cam := newCamera(t, e.RTSPURL("cam"))
	// 5 GOPs of 10 frames of about 20 KB: about 200 KB a fragment.
	if _, err := cam.run(0, 50, tick/25, 5*time.Millisecond, 10, 20000); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cam.c.Close()
	frags := settledFragments(ctx, t, e.ArchivedMedia(), "cam", from)
	if len(frags) < 3 {
		t.Fatalf("%d fragments, want at least 3", len(frags))
	}
	if corruptFragment(t, e.Dir, lastRecord) == 0 {
		t.Fatal("no fragment record found on disk")
	}
	var numbers []string
	for _, f := range frags {
		numbers = append(numbers, aws.ToString(f.FragmentNumber))
	}
	body, _ := json.Marshal(map[string]any{"StreamName": "cam", "Fragments": numbers})
	resp, err := http.Post(e.URL+"/getMediaForFragmentList", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || n < 256<<10 {
		t.Fatalf("status %d after %d bytes: the failure should come after the first 256 KiB", resp.StatusCode, n)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading %d bytes of an answer whose last fragment cannot be read: %v, want an unexpected EOF", n, err)
	}
}

// firstRecord and lastRecord find a fragment record in a segment file.
func firstRecord(b []byte) int { return bytes.Index(b, []byte("EFR1")) }
func lastRecord(b []byte) int  { return bytes.LastIndex(b, []byte("EFR1")) }
