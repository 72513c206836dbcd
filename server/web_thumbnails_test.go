package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// thumbURL is the UI's thumbnail of stream at t (width 0: the default).
func thumbURL(base, stream string, t time.Time, width string) string {
	q := url.Values{"time": {t.UTC().Format(time.RFC3339Nano)}}
	if width != "" {
		q.Set("width", width)
	}
	return base + "/api/v1/streams/" + stream + "/thumbnail?" + q.Encode()
}

// thumbGet fetches u with extra headers.
func thumbGet(t *testing.T, hc *http.Client, u string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// thumbMessage checks a JSON error answer and returns its message.
func thumbMessage(t *testing.T, hdr http.Header, b []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if hdr.Get("Content-Type") != "application/json" || json.Unmarshal(b, &e) != nil || e.Error.Message == "" || e.Error.Code == "" {
		t.Fatalf("not the API's JSON error {\"error\":{code, message}}: %s %s", hdr.Get("Content-Type"), b)
	}
	return e.Error.Message
}

// TestWebThumbnails publishes the test clip twice with a pause between,
// then reads thumbnails: JPEGs at the width asked, decoded once per grid
// cell and width (a second request, or one for another time in the cell,
// is a cache hit; concurrent identical requests share one decode), with
// an ETag browsers revalidate; 404 in the pause and before the recording,
// 400 for bad parameters. Then the UI in headless Chromium
// (web/test/thumbnails.mjs): the timeline's strip of thumbnails, with the
// gap, and the hover preview.
func TestWebThumbnails(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	const cacheBytes = 64 << 10
	e := servertest.Start(t, func(c *server.Config) { c.Images.ThumbnailCache = cacheBytes })
	ctx := servertest.Context(t, 3*time.Minute)
	for i := range 2 {
		if i > 0 {
			time.Sleep(12 * time.Second) // the gap: wider than two strip tiles at the UI's 1-minute zoom
		}
		_, _, done := publish(ctx, e.RTSPURL("cam"), 6*time.Second, "tcp")
		stopped(t, done)
	}
	frags := listAllFragments(ctx, t, e, "cam")
	var gapFrom, gapTo time.Time
	for i := 1; i < len(frags); i++ {
		end := frags[i-1].ProducerTimestamp.Add(time.Duration(frags[i-1].FragmentLengthInMilliseconds) * time.Millisecond)
		if d := frags[i].ProducerTimestamp.Sub(end); d > time.Second {
			gapFrom, gapTo = end, *frags[i].ProducerTimestamp
		}
	}
	if gapFrom.IsZero() {
		t.Fatalf("no gap between the publications in %d fragments", len(frags))
	}
	t.Logf("%d fragments, gap %s – %s", len(frags), gapFrom.Format(time.RFC3339Nano), gapTo.Format(time.RFC3339Nano))
	hc := &http.Client{}
	decodes := func() float64 {
		v, _ := sample(scrape(t, e), "eddy_web_thumbnail_decodes_total", nil)
		return v
	}
	requests := func(result string) float64 {
		v, _ := sample(scrape(t, e), "eddy_web_thumbnail_requests_total", map[string]string{"result": result})
		return v
	}

	// JPEGs at the widths asked (the clip is 320x240).
	f := frags[2]
	at := f.ProducerTimestamp.Add(520 * time.Millisecond)
	var etag string
	for _, tc := range []struct {
		width string
		w, h  int
	}{{"", 160, 120}, {"96", 96, 72}, {"640", 640, 480}} {
		before := decodes()
		st, hdr, b := thumbGet(t, hc, thumbURL(e.URL, "cam", at, tc.width))
		if st != 200 || hdr.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("width %q: %d %s %.200s", tc.width, st, hdr.Get("Content-Type"), b)
		}
		img, err := jpeg.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("width %q: %v", tc.width, err)
		}
		if sz := img.Bounds().Size(); sz.X != tc.w || sz.Y != tc.h {
			t.Errorf("width %q: %v, want %dx%d", tc.width, sz, tc.w, tc.h)
		}
		if d := decodes() - before; d != 1 {
			t.Errorf("width %q: %v decodes", tc.width, d)
		}
		if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "private") || hdr.Get("ETag") == "" {
			t.Errorf("width %q: Cache-Control %q, ETag %q", tc.width, cc, hdr.Get("ETag"))
		}
		snapped, err := time.Parse(time.RFC3339Nano, hdr.Get("X-Eddy-Thumbnail-Time"))
		if err != nil || snapped.Sub(at).Abs() > 50*time.Millisecond {
			t.Errorf("width %q: frame time %q for %s", tc.width, hdr.Get("X-Eddy-Thumbnail-Time"), at.Format(time.RFC3339Nano))
		}
		if tc.width == "" {
			etag = hdr.Get("ETag")
		}
	}

	// The same image again, and another time of its grid cell: cache hits,
	// byte for byte, no decode; a browser's revalidation: 304.
	_, _, first := thumbGet(t, hc, thumbURL(e.URL, "cam", at, ""))
	before, hits := decodes(), requests("hit")
	for _, d := range []time.Duration{0, 30 * time.Millisecond, -10 * time.Millisecond} {
		st, hdr, b := thumbGet(t, hc, thumbURL(e.URL, "cam", at.Add(d), "160"))
		if st != 200 || !bytes.Equal(b, first) || hdr.Get("ETag") != etag {
			t.Errorf("%v later: %d, %d bytes (want %d), ETag %q", d, st, len(b), len(first), hdr.Get("ETag"))
		}
	}
	if st, _, b := thumbGet(t, hc, thumbURL(e.URL, "cam", at, ""), "If-None-Match", etag); st != 304 || len(b) != 0 {
		t.Errorf("revalidation: %d %d bytes", st, len(b))
	}
	if d, h := decodes()-before, requests("hit")-hits; d != 0 || h != 3 {
		t.Errorf("cache: %v decodes, %v hits; want 0 and 3", d, h)
	}

	// Twelve identical requests at once for an image not in the cache:
	// one decode.
	before = decodes()
	other := frags[len(frags)-2].ProducerTimestamp.Add(time.Second)
	var wg sync.WaitGroup
	sizes := make([]int, 12)
	for i := range sizes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, b := thumbGet(t, hc, thumbURL(e.URL, "cam", other, "200"))
			if st == 200 {
				sizes[i] = len(b)
			}
		}()
	}
	wg.Wait()
	for i, n := range sizes {
		if n == 0 || n != sizes[0] {
			t.Errorf("concurrent request %d: %d bytes (first: %d)", i, n, sizes[0])
		}
	}
	if d := decodes() - before; d != 1 {
		t.Errorf("12 identical concurrent requests: %v decodes, want 1", d)
	}

	// The cache keeps at most its bytes, least recently used out first:
	// ten more images evict the 96-pixel one, which decodes again.
	for i := range 10 {
		f := frags[i%len(frags)]
		tm := f.ProducerTimestamp.Add(time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond * time.Duration(i/len(frags)+1) / 4)
		if st, _, b := thumbGet(t, hc, thumbURL(e.URL, "cam", tm, "320")); st != 200 {
			t.Fatalf("%s: %d %s", tm, st, b)
		}
	}
	held, _ := sample(scrape(t, e), "eddy_web_thumbnail_cache_bytes", nil)
	if held <= 0 || held > cacheBytes {
		t.Errorf("the cache holds %v bytes, bound %d", held, cacheBytes)
	}
	before = decodes()
	if st, _, _ := thumbGet(t, hc, thumbURL(e.URL, "cam", at, "96")); st != 200 || decodes()-before != 1 {
		t.Errorf("the evicted image: %d, %v decodes", st, decodes()-before)
	}
	t.Logf("cache: %v bytes held of %d", held, cacheBytes)

	// No media: in the gap, before the recording, after it.
	last := frags[len(frags)-1]
	for name, tm := range map[string]time.Time{
		"gap":    gapFrom.Add(gapTo.Sub(gapFrom) / 2),
		"before": frags[0].ProducerTimestamp.Add(-time.Minute),
		"after":  last.ProducerTimestamp.Add(time.Duration(last.FragmentLengthInMilliseconds)*time.Millisecond + time.Second),
	} {
		st, hdr, b := thumbGet(t, hc, thumbURL(e.URL, "cam", tm, ""))
		if st != 404 || !strings.Contains(thumbMessage(t, hdr, b), "no video at") || hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("%s (%s): %d %s %.100s", name, tm.Format(time.RFC3339Nano), st, hdr.Get("X-Eddy-Thumbnail-Time"), b)
		}
	}
	// within: from a time in the gap, the first frame recorded after it
	// (within the span), else still 404.
	mid := gapFrom.Add(gapTo.Sub(gapFrom) / 2)
	if st, hdr, b := thumbGet(t, hc, thumbURL(e.URL, "cam", mid, "")+"&within=60000"); st != 200 {
		t.Errorf("within, from the gap: %d %.200s", st, b)
	} else if ft, err := time.Parse(time.RFC3339Nano, hdr.Get("X-Eddy-Thumbnail-Time")); err != nil || ft.Before(gapTo.Add(-time.Millisecond)) || ft.After(gapTo.Add(time.Second)) {
		t.Errorf("within, from the gap: frame of %q, want the first after %s", hdr.Get("X-Eddy-Thumbnail-Time"), gapTo.Format(time.RFC3339Nano))
	}
	if st, _, b := thumbGet(t, hc, thumbURL(e.URL, "cam", mid, "")+"&within=1000"); st != 404 {
		t.Errorf("within, too short to reach the recording: %d %.200s", st, b)
	}
	// Bad parameters, and streams that are not there.
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/api/v1/streams/cam/thumbnail", 400},
		{"/api/v1/streams/cam/thumbnail?time=yesterday", 400},
		{"/api/v1/streams/cam/thumbnail?time=" + url.QueryEscape(at.Format(time.RFC3339Nano)) + "&width=0", 400},
		{"/api/v1/streams/cam/thumbnail?time=" + url.QueryEscape(at.Format(time.RFC3339Nano)) + "&width=abc", 400},
		{"/api/v1/streams/cam/thumbnail?time=" + url.QueryEscape(at.Format(time.RFC3339Nano)) + "&width=5000", 400},
		{"/api/v1/streams/cam/thumbnail?time=" + url.QueryEscape(at.Format(time.RFC3339Nano)) + "&within=-1", 400},
		{"/api/v1/streams/a%20b/thumbnail?time=" + url.QueryEscape(at.Format(time.RFC3339Nano)), 400},
		{"/api/v1/streams/nope/thumbnail?time=" + url.QueryEscape(at.Format(time.RFC3339Nano)), 404},
	} {
		st, hdr, b := thumbGet(t, hc, e.URL+tc.path)
		if st != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.path, st, b, tc.status)
			continue
		}
		thumbMessage(t, hdr, b)
	}

	t.Run("browser", func(t *testing.T) {
		node, chromium := needBrowser(t)
		ms := func(tm time.Time) string { return strconv.FormatInt(tm.UnixMilli(), 10) }
		recTo := last.ProducerTimestamp.Add(time.Duration(last.FragmentLengthInMilliseconds) * time.Millisecond)
		runBrowserTest(ctx, t, node, chromium, "test/thumbnails.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM=cam",
			"EDDY_GAP_FROM="+ms(gapFrom), "EDDY_GAP_TO="+ms(gapTo), "EDDY_REC_FROM="+ms(*frags[0].ProducerTimestamp), "EDDY_REC_TO="+ms(recTo))
	})
}

// listAllFragments lists a stream's fragments by producer time, once the
// list is settled (the recorder stores a publication's last fragment after
// it ends).
func listAllFragments(ctx context.Context, t testing.TB, e *servertest.Env, stream string) []amtypes.Fragment {
	t.Helper()
	var frags []amtypes.Fragment
	for prev := -1; len(frags) != prev; time.Sleep(time.Second) {
		prev = len(frags)
		from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Minute)
		out, err := e.ArchivedMedia().ListFragments(ctx, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(stream),
			FragmentSelector: &amtypes.FragmentSelector{FragmentSelectorType: amtypes.FragmentSelectorTypeServerTimestamp,
				TimestampRange: &amtypes.TimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
		if err != nil {
			t.Fatal(err)
		}
		frags = out.Fragments
	}
	sort.Slice(frags, func(i, j int) bool { return frags[i].ProducerTimestamp.Before(*frags[j].ProducerTimestamp) })
	if len(frags) < 4 {
		t.Fatalf("%d fragments", len(frags))
	}
	return frags
}

// TestWebThumbnailsNoFFmpeg: a server whose ffmpeg is missing runs, and
// thumbnails answer 503 saying what to install.
func TestWebThumbnailsNoFFmpeg(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) { c.Images.FFmpeg = "/nonexistent/ffmpeg" })
	if _, err := e.Server.Videos().CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, hdr, b := thumbGet(t, &http.Client{}, thumbURL(e.URL, "cam", time.Now(), ""))
	if st != 503 || !strings.Contains(thumbMessage(t, hdr, b), "apt-get install ffmpeg") {
		t.Fatalf("%d %s", st, b)
	}
}

// TestWebThumbnailsAuth: with credentials, thumbnails need the UI's
// session and hls:read on the stream, like the timeline.
func TestWebThumbnailsAuth(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) { c.Auth.FailureLimit = 0 })
	for _, s := range []string{"lobby", "cam-1"} {
		if _, err := e.Server.Videos().CreateStream(s, fragments.CreateOptions{RetentionHours: 1}); err != nil {
			t.Fatal(err)
		}
	}
	c := newUIClient(t, e.URL)
	path := func(s string) string {
		return thumbURL("", s, time.Now().Add(-time.Hour), "")
	}
	if st, hdr, b := c.do("GET", path("cam-1"), ""); st != 401 {
		t.Errorf("before login: %d %s", st, b)
	} else {
		thumbMessage(t, hdr, []byte(b))
	}
	if st, _, b := c.do("POST", "/api/v1/ui/login", loginBody(viewKey, viewSecret)); st != 200 {
		t.Fatalf("login: %d %s", st, b)
	}
	if st, hdr, b := c.do("GET", path("lobby"), ""); st != 403 || !strings.Contains(thumbMessage(t, hdr, []byte(b)), "hls:read") {
		t.Errorf("lobby: %d %s", st, b)
	}
	// Allowed: the answer is about the media (none there), or FFmpeg.
	if st, _, b := c.do("GET", path("cam-1"), ""); st != 404 && st != 503 {
		t.Errorf("cam-1: %d %s", st, b)
	}
}
