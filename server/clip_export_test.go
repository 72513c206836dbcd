package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// longArchive uploads minutes of the test clip (looped, timestamps
// continuous, one cluster per 2 s GOP) with PutMedia, faster than real
// time, at producer times from base on: a long archive in seconds.
func longArchive(ctx context.Context, t testing.TB, e *servertest.Env, stream string, base time.Time, minutes int) {
	t.Helper()
	createVideoStream(ctx, t, e.KinesisVideo(), stream)
	loops := minutes*60/20 + 1 // the clip lasts 20 s
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-stream_loop", strconv.Itoa(loops-1), "-i", testClip,
		"-t", strconv.Itoa(minutes*60), "-c", "copy", "-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	body, _ := runProducer(ctx, t, cmd)
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", start: unixSeconds(base)}, body)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resp.StatusCode != 200 {
		t.Fatalf("PutMedia: status %d", s.Resp.StatusCode)
	}
	acks := s.Wait(t, 5*time.Minute)
	persisted := 0
	for _, a := range acks {
		if a.EventType == "PERSISTED" {
			persisted++
		}
	}
	if want := minutes * 30; persisted < want-1 {
		t.Fatalf("%d fragments persisted, want %d (2 s GOPs)", persisted, want)
	}
}

// download GETs u with the given header lines and writes the body to a
// file (never held in the test's memory, which the server shares), and
// returns the response and the file's path.
func download(t *testing.T, u string, dir string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.CreateTemp(dir, "clip-*.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp, f.Name()
}

// TestClipExportLong: clip.mp4 of a 30-minute range of a 46-minute
// archive (PutMedia, 2 s fragments: 900 of them, 4.5 times GetClip's
// limit) is the whole range: ffprobe reads 30 minutes (within a
// fragment) and every frame with strictly increasing decode times, its
// size is the Content-Length, byte ranges at its start, middle and end
// are the same bytes as the whole answer's, If-Range with its ETag gets
// the range and with another the whole file, the file name has the
// first fragment's start and the last fragment's end, the server's heap
// does not grow with the clip while it is downloaded, a range with
// nothing recorded is ResourceNotFoundException, VLC plays its last
// seconds (seeking over HTTP), and headless Chromium exports a 30-minute
// selection through the UI.
func TestClipExportLong(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	e := servertest.Start(t)
	ctx := servertest.Context(t, 8*time.Minute)
	const stream = "long"
	// From 70 minutes ago to 24 minutes ago: the UI's last-hour window
	// holds a 30-minute selection of it.
	base := time.Now().Add(-70 * time.Minute).Truncate(time.Millisecond)
	longArchive(ctx, t, e, stream, base, 46)
	dir := t.TempDir()

	from, to := base.Add(5*time.Minute), base.Add(35*time.Minute)
	u := fmt.Sprintf("%s/api/v1/streams/%s/clip.mp4?start=%s&end=%s", e.URL, stream, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))

	// The live heap (after a collection, so that garbage does not count)
	// while the whole clip is downloaded, sampled, against the heap
	// before: a server that held the clip would hold all of it at once.
	liveHeap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	heap0 := liveHeap()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			peak = max(peak, liveHeap())
		}
	}()
	resp, whole := download(t, u, dir)
	close(stop)
	wg.Wait()
	fi, err := os.Stat(whole)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("Content-Length") != strconv.FormatInt(size, 10) {
		t.Fatalf("clip.mp4: %d %s, Content-Length %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), size)
	}
	grew := int64(peak) - int64(heap0)
	t.Logf("clip: %d bytes; server heap grew by at most %d bytes while it was sent", size, grew)
	if size < 40<<20 {
		t.Fatalf("a 30-minute clip of %d bytes: the heap check below would prove nothing", size)
	}
	if grew > size/2 { // held, the clip alone would be size bytes
		t.Errorf("the heap grew by %d bytes while a clip of %d bytes was sent: the clip is held in memory", grew, size)
	}

	// The file name: the first fragment's start and the last one's end,
	// as ListFragments has them.
	frags := listAll(ctx, t, e.ArchivedMedia(), stream, types.FragmentSelectorTypeProducerTimestamp, from, to)
	if len(frags) < 890 {
		t.Fatalf("%d fragments in 30 minutes", len(frags))
	}
	first, last := frags[0], frags[0]
	for _, f := range frags {
		if f.ProducerTimestamp.Before(*first.ProducerTimestamp) {
			first = f
		}
		if f.ProducerTimestamp.After(*last.ProducerTimestamp) {
			last = f
		}
	}
	realStart := first.ProducerTimestamp.UTC()
	realEnd := last.ProducerTimestamp.Add(time.Duration(last.FragmentLengthInMilliseconds) * time.Millisecond).UTC()
	const stamp = "20060102T150405Z"
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if want := stream + "-" + realStart.Format(stamp) + "-" + realEnd.Format(stamp) + ".mp4"; err != nil || params["filename"] != want {
		t.Errorf("Content-Disposition %q, want filename %q", resp.Header.Get("Content-Disposition"), want)
	}

	// ffprobe: the duration, every frame, decode times increasing.
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "packet=dts_time:format=duration",
		"-of", "csv=p=0", whole).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	lines := strings.Fields(string(out))
	dur, _ := strconv.ParseFloat(lines[len(lines)-1], 64)
	want := realEnd.Sub(realStart).Seconds()
	if math.Abs(dur-30*60) > 2 || math.Abs(dur-want) > 2 {
		t.Errorf("ffprobe: %.3f s, want 30 min and the file name's span, %.3f s, within a 2 s fragment", dur, want)
	}
	prev, packets := -1.0, 0
	for _, l := range lines[:len(lines)-1] {
		dts, err := strconv.ParseFloat(l, 64)
		if err != nil || dts <= prev {
			t.Fatalf("packet %d: dts %q after %.3f", packets, l, prev)
		}
		prev = dts
		packets++
	}
	if fps := 25.0; math.Abs(float64(packets)-dur*fps) > 2 {
		t.Errorf("%d video frames in %.3f s, want %.0f", packets, dur, dur*fps)
	}
	// Decoding the end, after a seek by the index, works.
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-ss", strconv.FormatFloat(dur-5, 'f', 3, 64), "-i", whole, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg decoding the last 5 s: %v %s", err, out)
	}

	// Byte ranges: the same bytes as the whole answer's.
	body, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	etag := resp.Header.Get("ETag")
	for _, c := range []struct {
		rng         string
		first, last int64
	}{{"bytes=0-65535", 0, 65535}, {fmt.Sprintf("bytes=%d-%d", size/2, size/2+1<<20), size / 2, size/2 + 1<<20}, {"bytes=-100000", size - 100000, size - 1}} {
		r, p := download(t, u, dir, "Range", c.rng, "If-Range", etag)
		got, _ := os.ReadFile(p)
		if r.StatusCode != http.StatusPartialContent || r.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", c.first, c.last, size) ||
			!bytes.Equal(got, body[c.first:c.last+1]) {
			t.Errorf("Range %s: %d %s, %d bytes (equal: %v)", c.rng, r.StatusCode, r.Header.Get("Content-Range"), len(got), bytes.Equal(got, body[c.first:min(c.last+1, int64(len(body)))]))
		}
	}
	r, p := download(t, u, dir, "Range", "bytes=0-99", "If-Range", `"another"`)
	got, _ := os.ReadFile(p)
	if r.StatusCode != 200 || sha256.Sum256(got) != sha256.Sum256(body) {
		t.Errorf("If-Range with another ETag: %d, %d bytes, want the whole clip", r.StatusCode, len(got))
	}

	// HEAD: GET's length and ETag, no body (download tools probe first).
	if hr, err := http.Head(u); err != nil || hr.StatusCode != 200 || hr.ContentLength != size || hr.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %v, %+v", err, hr)
	} else {
		hr.Body.Close()
	}

	// A Range request of a range up to an hour from now: redirected to
	// the range pinned to its fragments, which ends with the archive's
	// last fragment.
	openURL := fmt.Sprintf("%s/api/v1/streams/%s/clip.mp4?start=%s&end=%s", e.URL, stream,
		base.Add(44*time.Minute).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	openReq, _ := http.NewRequest("GET", openURL, nil)
	openReq.Header.Set("Range", "bytes=0-")
	if rr, err := noFollow.Do(openReq); err != nil {
		t.Error(err)
	} else {
		rr.Body.Close()
		loc, _ := rr.Location()
		if rr.StatusCode != http.StatusTemporaryRedirect || loc == nil {
			t.Errorf("open range: %d, Location %q", rr.StatusCode, rr.Header.Get("Location"))
		} else {
			pr, p := download(t, loc.String(), dir)
			_, params, _ := mime.ParseMediaType(pr.Header.Get("Content-Disposition"))
			tail := listAll(ctx, t, e.ArchivedMedia(), stream, types.FragmentSelectorTypeProducerTimestamp, base.Add(44*time.Minute), time.Now())
			var lastEnd time.Time
			for _, f := range tail {
				if end := f.ProducerTimestamp.Add(time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond); end.After(lastEnd) {
					lastEnd = end
				}
			}
			fi, _ := os.Stat(p)
			if pr.StatusCode != 200 || fi == nil || fi.Size() != pr.ContentLength || !strings.HasSuffix(params["filename"], "-"+lastEnd.UTC().Format(stamp)+".mp4") {
				t.Errorf("pinned %s: %d, file %q, want it to end %s", loc, pr.StatusCode, params["filename"], lastEnd.UTC().Format(stamp))
			}
		}
	}

	// Nothing recorded: the Kinesis Video error, nothing else.
	empty := fmt.Sprintf("%s/api/v1/streams/%s/clip.mp4?start=%s&end=%s", e.URL, stream,
		base.Add(-3*time.Hour).UTC().Format(time.RFC3339), base.Add(-2*time.Hour).UTC().Format(time.RFC3339))
	r, p = download(t, empty, dir)
	got, _ = os.ReadFile(p)
	if r.StatusCode != 404 || r.Header.Get("x-amzn-ErrorType") != "ResourceNotFoundException" || r.Header.Get("Content-Disposition") != "" || !bytes.Contains(got, []byte(`"message"`)) {
		t.Errorf("empty range: %d %s %q", r.StatusCode, r.Header.Get("x-amzn-ErrorType"), got)
	}

	// VLC plays the clip over HTTP from 10 s before its end for 6 s: it
	// seeks (by Range) rather than reading the 30 minutes before.
	t.Run("VLC", func(t *testing.T) {
		needVLC(t)
		from := dur - 10
		p, stderr, err := runVLC(ctx, t, 0, "--play-and-exit", "--start-time="+strconv.FormatFloat(from, 'f', 3, 64),
			"--stop-time="+strconv.FormatFloat(from+6, 'f', 3, 64), u)
		if err != nil {
			t.Fatalf("cvlc: %v:\n%s", err, stderr)
		}
		// It starts at the keyframe that starts the fragment (up to 2 s
		// before the time asked).
		if p.duration < 5.5 || p.duration > 8.5 || math.Abs(float64(p.frames)-p.duration*25) > 10 {
			t.Errorf("VLC wrote %.3f s, %d frames from %.3f s on; want 6 s and up to a fragment before:\n%s", p.duration, p.frames, from, stderr)
		}
	})

	t.Run("Chromium", func(t *testing.T) {
		node, chromium := needBrowser(t)
		runBrowserTest(ctx, t, node, chromium, "test/export.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM="+stream,
			"EDDY_DOWNLOADS="+filepath.Join(dir, "chromium"))
	})
}

// BenchmarkClipExport measures clip.mp4 end to end: a 30-minute export of
// the test clip (PutMedia, 2 s fragments of about 75 KB: 900 of them, 69
// MB) downloaded over loopback HTTP by Go's client and discarded. MB/s is
// the clip's bytes per second; B/op and allocs/op count the client's too
// (they share the process).
func BenchmarkClipExport(b *testing.B) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		b.Skip("ffmpeg is not installed")
	}
	e := servertest.Start(b)
	ctx := servertest.Context(b, 5*time.Minute)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	longArchive(ctx, b, e, "bench", base, 31)
	u := fmt.Sprintf("%s/api/v1/streams/bench/clip.mp4?start=%s&end=%s", e.URL, base.UTC().Format(time.RFC3339), base.Add(30*time.Minute).UTC().Format(time.RFC3339))
	get := func() int64 {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != 200 || n != resp.ContentLength {
			b.Fatalf("clip.mp4: %d, %d of %d bytes, %v", resp.StatusCode, n, resp.ContentLength, err)
		}
		return n
	}
	b.SetBytes(get())
	b.ReportAllocs()
	for b.Loop() {
		get()
	}
}
