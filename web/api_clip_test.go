package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestClipCodecChange: a range over two publications of different codecs
// (H.264 + AAC, then H.264 alone) gets the first one only, whole: the file
// name ends where its last fragment ends, and Eddy-Clip-Cut says where the
// rest starts; asked from there, the rest comes without the header.
func TestClipCodecChange(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	clk := datastreamstest.NewClock(t1.Add(time.Hour))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		synth mediatest.Synth
		at    time.Time
	}{
		{mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 10, GOP: 50}, t0},
		{mediatest.Synth{Video: true, InBand: true, Seconds: 6, GOP: 50}, t1},
	} {
		for _, e := range fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: p.synth.Tracks()}, p.synth.Units(p.at)) {
			if _, err := st.Append(e.Init, e.F); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := chi.NewRouter()
	(&Handler{Manager: m, Now: func() time.Time { return t1.Add(time.Hour) }}).Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()

	get := func(from, to time.Time) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/v1/streams/cam/clip.mp4?start=" + from.Format(time.RFC3339) + "&end=" + to.Format(time.RFC3339))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	filename := func(resp *http.Response) string {
		_, p, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		return p["filename"]
	}
	resp, body := get(t0, t1.Add(time.Hour))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
		filename(resp) != "cam-20261206T100000Z-20261206T100010Z.mp4" || resp.Header.Get("Eddy-Clip-Cut") != t1.Format(time.RFC3339Nano) {
		t.Fatalf("across the change: %d, %d bytes (Content-Length %s), file %q, Eddy-Clip-Cut %q",
			resp.StatusCode, len(body), resp.Header.Get("Content-Length"), filename(resp), resp.Header.Get("Eddy-Clip-Cut"))
	}
	resp, body = get(t1, t1.Add(time.Hour))
	if resp.StatusCode != 200 || len(body) == 0 || filename(resp) != "cam-20261206T100100Z-20261206T100106Z.mp4" || resp.Header.Get("Eddy-Clip-Cut") != "" {
		t.Fatalf("after the change: %d, %d bytes, file %q, Eddy-Clip-Cut %q", resp.StatusCode, len(body), filename(resp), resp.Header.Get("Eddy-Clip-Cut"))
	}
}

// clipServer records a publication of seconds of H.264 + AAC at producer
// time t0 (2 s fragments) and serves the UI's routes over it; it stores
// the first stored of the fragments and returns a function that stores
// the next one. cache false turns the export cache off.
func clipServer(t testing.TB, t0 time.Time, seconds float64, stored int, cache bool) (*httptest.Server, func()) {
	clk := datastreamstest.NewClock(t0.Add(time.Hour))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	synth := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: seconds, GOP: 50}
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: synth.Tracks()}, synth.Units(t0))
	next := 0
	store := func() {
		t.Helper()
		if next == len(out) {
			t.Fatal("no fragment left to store")
		}
		if _, err := st.Append(out[next].Init, out[next].F); err != nil {
			t.Fatal(err)
		}
		next++
	}
	for range stored {
		store()
	}
	r := chi.NewRouter()
	(&Handler{Manager: m, Now: clk.Now, noClipCache: !cache}).Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, store
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// noRedirects is a client that returns redirects rather than follow them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func clipDo(t *testing.T, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestClipLiveEdge: a Range request (or HEAD) of a range open past the
// last stored fragment (here up to an hour after the recording: the UI's
// "up to now") is redirected (307, no body) to the range pinned to its
// fragments, and a whole GET of it is that file with its URL in
// Content-Location; the pinned URL
// answers itself, the same bytes and ETag before and after a fragment is
// stored after them, so a player's Range requests (without If-Range) on
// either side of that fragment make up the same file; the open URL then
// leads to the longer file. HEAD answers GET's headers (length, ETag)
// without a body, and an unsatisfiable Range is a 416 in the Kinesis
// Video error shape with the clip's length in Content-Range. All of it
// with the export cache and without.
func TestClipLiveEdge(t *testing.T) {
	for _, cache := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
			srv, store := clipServer(t, t0, 20, 6, cache)
			open := srv.URL + "/api/v1/streams/cam/clip.mp4?start=" + t0.Format(time.RFC3339) + "&end=" + t0.Add(time.Hour).Format(time.RFC3339)
			pinnedOf := func() string {
				t.Helper()
				resp, body := clipDo(t, "GET", open, "Range", "bytes=0-")
				loc, err := resp.Location()
				if resp.StatusCode != http.StatusTemporaryRedirect || err != nil || len(body) != 0 || resp.Header.Get("Content-Disposition") != "" {
					t.Fatalf("open range: %d, Location %q (%v), %d bytes of body", resp.StatusCode, resp.Header.Get("Location"), err, len(body))
				}
				if loc.Path != "/api/v1/streams/cam/clip.mp4" {
					t.Fatalf("redirected to %s", loc)
				}
				return loc.String()
			}
			pinned := pinnedOf()
			// The pinned range: from the first fragment's start to just
			// before the sixth one's end (12 s).
			q, _ := url.Parse(pinned)
			ps, err1 := time.Parse(time.RFC3339Nano, q.Query().Get("start"))
			pe, err2 := time.Parse(time.RFC3339Nano, q.Query().Get("end"))
			if err1 != nil || err2 != nil || !ps.Equal(t0) || pe.Sub(t0.Add(12*time.Second)).Abs() > 50*time.Millisecond || !pe.Before(t0.Add(12*time.Second)) {
				t.Fatalf("pinned to %s", pinned)
			}

			resp, whole := clipDo(t, "GET", pinned)
			etag := resp.Header.Get("ETag")
			if resp.StatusCode != 200 || etag == "" || resp.Header.Get("Content-Length") != strconv.Itoa(len(whole)) {
				t.Fatalf("pinned: %d, ETag %q, Content-Length %s, %d bytes", resp.StatusCode, etag, resp.Header.Get("Content-Length"), len(whole))
			}
			head, body := clipDo(t, "HEAD", pinned)
			if head.StatusCode != 200 || len(body) != 0 || head.Header.Get("Content-Length") != strconv.Itoa(len(whole)) ||
				head.Header.Get("ETag") != etag || head.Header.Get("Content-Type") != "video/mp4" || head.Header.Get("Accept-Ranges") != "bytes" ||
				head.Header.Get("Content-Disposition") != resp.Header.Get("Content-Disposition") {
				t.Fatalf("HEAD: %d, %d bytes of body, headers %v; GET's %v", head.StatusCode, len(body), head.Header, resp.Header)
			}
			if head, _ := clipDo(t, "HEAD", open); head.StatusCode != http.StatusTemporaryRedirect || head.Header.Get("Location") == "" {
				t.Fatalf("HEAD of the open range: %d", head.StatusCode)
			}
			// A whole answer of the open range: the pinned file, and its
			// URL in Content-Location.
			if resp, b := clipDo(t, "GET", open); resp.StatusCode != 200 || !bytes.Equal(b, whole) || resp.Header.Get("ETag") != etag ||
				resp.Request.URL.ResolveReference(mustParse(t, resp.Header.Get("Content-Location"))).String() != pinned {
				t.Fatalf("open range without Range: %d, same bytes %v, Content-Location %q", resp.StatusCode, bytes.Equal(b, whole), resp.Header.Get("Content-Location"))
			}

			// A player's Range requests on either side of a new fragment.
			cut := len(whole) / 3
			r1, part1 := clipDo(t, "GET", pinned, "Range", fmt.Sprintf("bytes=0-%d", cut-1))
			store()
			r2, part2 := clipDo(t, "GET", pinned, "Range", fmt.Sprintf("bytes=%d-", cut))
			if r1.StatusCode != 206 || r2.StatusCode != 206 || !bytes.Equal(append(part1, part2...), whole) || r2.Header.Get("ETag") != etag {
				t.Fatalf("ranges across a new fragment: %d %d, %d+%d bytes of %d, same bytes %v, ETag %s then %s",
					r1.StatusCode, r2.StatusCode, len(part1), len(part2), len(whole), bytes.Equal(append(part1, part2...), whole), etag, r2.Header.Get("ETag"))
			}
			if resp, again := clipDo(t, "GET", pinned); resp.StatusCode != 200 || !bytes.Equal(again, whole) {
				t.Fatalf("pinned after a new fragment: %d, same bytes %v", resp.StatusCode, bytes.Equal(again, whole))
			}
			// The open range now leads to the longer file.
			longer := pinnedOf()
			if resp, b := clipDo(t, "GET", longer); longer == pinned || resp.StatusCode != 200 || len(b) <= len(whole) || resp.Header.Get("ETag") == etag {
				t.Fatalf("open range after a new fragment: %s, %d, %d bytes (had %d)", longer, resp.StatusCode, len(b), len(whole))
			}

			// No requested byte in the clip: 416 in the Kinesis Video shape.
			resp, body = clipDo(t, "GET", pinned, "Range", fmt.Sprintf("bytes=%d-", len(whole)))
			var e struct{ Type, Message string }
			e.Type = resp.Header.Get("x-amzn-ErrorType")
			if err := json.Unmarshal(body, &struct {
				Message *string `json:"message"`
			}{&e.Message}); err != nil || resp.StatusCode != http.StatusRequestedRangeNotSatisfiable ||
				e.Type != "InvalidArgumentException" || !strings.Contains(e.Message, strconv.Itoa(len(whole))+" bytes") ||
				resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(whole)) ||
				resp.Header.Get("Content-Disposition") != "" {
				t.Fatalf("unsatisfiable range: %d %v %q (%v)", resp.StatusCode, resp.Header, body, err)
			}
		})
	}
}

// TestClipMultiRange: a Range of several byte ranges is a
// multipart/byteranges answer whose parts are the whole file's bytes;
// clients that go away in the middle of one (net/http reads it in a
// goroutine of its own, which the race detector watches against the
// handler's look at the reader's error) leave the server answering.
func TestClipMultiRange(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	srv, _ := clipServer(t, t0, 1200, 600, true)
	u := srv.URL + "/api/v1/streams/cam/clip.mp4?start=" + t0.Format(time.RFC3339) + "&end=" + t0.Add(1190*time.Second).Format(time.RFC3339)
	resp, whole := clipDo(t, "GET", u)
	if resp.StatusCode != 200 || len(whole) < 1_000_000 {
		t.Fatalf("whole: %d, %d bytes", resp.StatusCode, len(whole))
	}
	ranges := [][2]int{{0, 99}, {5000, 600_000}, {len(whole) - 1000, len(whole) - 1}}
	spec := "bytes="
	for i, r := range ranges {
		if i > 0 {
			spec += ","
		}
		spec += fmt.Sprintf("%d-%d", r[0], r[1])
	}
	resp, body := clipDo(t, "GET", u, "Range", spec)
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("%s: %d %s", spec, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i, r := range ranges {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		got, err := io.ReadAll(part)
		if err != nil || !bytes.Equal(got, whole[r[0]:r[1]+1]) || part.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], len(whole)) {
			t.Fatalf("part %d (%s): %d bytes, equal %v, %v", i, part.Header.Get("Content-Range"), len(got), bytes.Equal(got, whole[r[0]:min(r[1]+1, len(whole))]), err)
		}
	}

	// Clients that read a little of a multi-range answer and go away.
	addr := strings.TrimPrefix(srv.URL, "http://")
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		req := "GET " + strings.TrimPrefix(u, srv.URL) + " HTTP/1.1\r\nHost: " + addr + "\r\nRange: bytes=0-99,100-" + strconv.Itoa(len(whole)-2) + "\r\n\r\n"
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if resp, again := clipDo(t, "GET", u); resp.StatusCode != 200 || !bytes.Equal(again, whole) {
		t.Fatalf("after clients went away: %d, same bytes %v", resp.StatusCode, bytes.Equal(again, whole))
	}
}
