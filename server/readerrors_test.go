package server_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/eddy-video/eddy/server/servertest"
)

// corruptFirstFragment flips a byte inside the first fragment record of
// every segment file under dir that holds fragment records ("EFR1"): the
// log's CRC then refuses it on read, as a damaged disk would. It reports
// how many files it changed.
func corruptFirstFragment(t *testing.T, dir string) int {
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
		i := bytes.Index(b, []byte("EFR1"))
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
	if corruptFirstFragment(t, e.Dir) == 0 {
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
