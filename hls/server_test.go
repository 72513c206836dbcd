package hls

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
)

type fixture struct {
	t     testing.TB
	clk   *datastreamstest.Clock
	m     *fragments.Manager
	st    *fragments.Store
	srv   *httptest.Server
	h     http.Handler // srv's handler
	at    time.Time    // server/producer time of the next fragment
	initA *fragments.InitSegment
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clk := datastreamstest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	core := &datastreams.Core{Dir: t.TempDir(), Now: clk.Now}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	m := &fragments.Manager{Core: core}
	if err := m.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); core.Close() })
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	r := chi.NewRouter()
	(&Server{Manager: m, Key: []byte("0123456789abcdef0123456789abcdef"), Now: clk.Now}).Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{t: t, clk: clk, m: m, st: st, srv: srv, h: r, at: clk.Now().Add(-time.Hour),
		initA: &fragments.InitSegment{ID: fragments.InitID{0xa}, Bytes: []byte("init-a")}}
}

// add stores n 2-second fragments after a gap, with init.
func (f *fixture) add(n int, gap time.Duration, init *fragments.InitSegment) {
	f.t.Helper()
	f.at = f.at.Add(gap)
	for i := 0; i < n; i++ {
		fr := &fragments.Fragment{ServerTime: f.at.UnixNano(), ProducerTime: f.at.UnixNano(), Duration: int64(2 * time.Second),
			Keyframe: true, InitID: init.ID, Media: []byte("moof+mdat")}
		if _, err := f.st.Append(init, fr); err != nil {
			f.t.Fatal(err)
		}
		f.at = f.at.Add(2 * time.Second)
	}
}

// session asks for a session URL and returns the media playlist URL.
func (f *fixture) session(req map[string]any) (string, int) {
	f.t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(f.srv.URL+"/getHLSStreamingSessionURL", "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ HLSStreamingSessionURL string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		return "", resp.StatusCode
	}
	u, _ := url.Parse(out.HLSStreamingSessionURL)
	return f.srv.URL + "/hls/v1/" + pathMedia + "?" + u.RawQuery, 200
}

func (f *fixture) get(u string) (int, string) {
	f.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tagInt(t *testing.T, body, tag string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tag) + `:(\d+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func secs(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func TestLiveWindowAndDiscontinuityNumbering(t *testing.T) {
	f := newFixture(t)
	f.add(3, 0, f.initA)
	f.clk.Set(f.at) // "now" is just after the newest fragment
	u, code := f.session(map[string]any{"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 3})
	if code != 200 {
		t.Fatalf("LIVE session: %d", code)
	}
	_, pl := f.get(u)
	if got := tagInt(t, pl, "#EXT-X-MEDIA-SEQUENCE"); got != 1 || strings.Count(pl, "#EXTINF:2.000,") != 3 {
		t.Fatalf("first LIVE playlist:\n%s", pl)
	}
	if strings.Contains(pl, "#EXT-X-ENDLIST") || strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE") {
		t.Fatal("LIVE playlist must stay open")
	}
	// SERVER_TIMESTAMP defaults to ALWAYS: a discontinuity before every
	// fragment but the first the session saw.
	if n := strings.Count(pl, "#EXT-X-DISCONTINUITY\n"); n != 2 {
		t.Fatalf("discontinuities = %d, want 2:\n%s", n, pl)
	}
	// Two more fragments: the window slides; numbering stays consistent.
	f.add(2, 0, f.initA)
	_, pl = f.get(u)
	if got := tagInt(t, pl, "#EXT-X-MEDIA-SEQUENCE"); got != 3 {
		t.Fatalf("media sequence %d after sliding, want 3:\n%s", got, pl)
	}
	// Fragment 3 is the first listed; fragments 2 and 3 each had a tag
	// before them, so the discontinuity sequence is 1 (fragment 2's) and
	// fragment 3's tag stays in the playlist.
	if got := tagInt(t, pl, "#EXT-X-DISCONTINUITY-SEQUENCE"); got != 1 || strings.Count(pl, "#EXT-X-DISCONTINUITY\n") != 3 {
		t.Fatalf("discontinuity numbering after sliding:\n%s", pl)
	}
}

func TestOnDemandDiscontinuityModes(t *testing.T) {
	f := newFixture(t)
	start := f.at
	f.add(2, 0, f.initA)
	f.add(2, 10*time.Second, f.initA) // a 10 s gap
	initB := &fragments.InitSegment{ID: fragments.InitID{0xb}, Bytes: []byte("init-b")}
	f.add(1, 0, initB) // a codec change, no gap
	end := f.at
	rng := map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP",
		"TimestampRange": map[string]any{"StartTimestamp": secs(start), "EndTimestamp": secs(end)}}
	cases := []struct {
		mode  string
		disc  int
		maps  int
		dates bool
	}{
		{"ALWAYS", 4, 2, false},
		{"ON_DISCONTINUITY", 2, 2, true}, // the gap and the new init segment
		{"NEVER", 1, 2, false},           // only the new init segment forces one
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			req := map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": rng, "DiscontinuityMode": c.mode}
			if c.dates {
				req["DisplayFragmentTimestamp"] = "ALWAYS"
			}
			u, code := f.session(req)
			if code != 200 {
				t.Fatalf("session: %d", code)
			}
			_, pl := f.get(u)
			if n := strings.Count(pl, "#EXT-X-DISCONTINUITY\n"); n != c.disc {
				t.Errorf("discontinuities = %d, want %d:\n%s", n, c.disc, pl)
			}
			if n := strings.Count(pl, "#EXT-X-MAP:"); n != c.maps {
				t.Errorf("maps = %d, want %d", n, c.maps)
			}
			if strings.Count(pl, "#EXTINF:") != 5 || !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") || !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:VOD") {
				t.Errorf("ON_DEMAND structure:\n%s", pl)
			}
			if c.dates {
				want := "#EXT-X-PROGRAM-DATE-TIME:" + start.UTC().Format("2006-01-02T15:04:05.000Z")
				if !strings.Contains(pl, want) || strings.Count(pl, "#EXT-X-PROGRAM-DATE-TIME:") != 5 {
					t.Errorf("program date times: want %s:\n%s", want, pl)
				}
			} else if strings.Contains(pl, "#EXT-X-PROGRAM-DATE-TIME") {
				t.Error("program date times without DisplayFragmentTimestamp")
			}
		})
	}
}

func TestLiveReplayPacing(t *testing.T) {
	f := newFixture(t)
	start := f.at
	f.add(5, 0, f.initA)
	u, code := f.session(map[string]any{"StreamName": "cam", "PlaybackMode": "LIVE_REPLAY",
		"HLSFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
			"TimestampRange": map[string]any{"StartTimestamp": secs(start), "EndTimestamp": secs(f.at)}}})
	if code != 200 {
		t.Fatalf("session: %d", code)
	}
	for _, step := range []struct {
		advance time.Duration
		n       int
		ended   bool
	}{{0, 1, false}, {2 * time.Second, 2, false}, {3 * time.Second, 3, false}, {10 * time.Second, 5, true}} {
		f.clk.Advance(step.advance)
		_, pl := f.get(u)
		if n := strings.Count(pl, "#EXTINF:"); n != step.n || strings.Contains(pl, "#EXT-X-ENDLIST") != step.ended {
			t.Fatalf("after %v more: %d fragments (ended %v), want %d (%v):\n%s", step.advance, n, strings.Contains(pl, "#EXT-X-ENDLIST"), step.n, step.ended, pl)
		}
	}
}

func TestSessionErrors(t *testing.T) {
	f := newFixture(t)
	f.add(2, 0, f.initA)
	f.clk.Set(f.at)
	for _, c := range []struct {
		name string
		req  map[string]any
		code int
	}{
		{"ON_DEMAND without range", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND"}, 400},
		{"LIVE with range", map[string]any{"StreamName": "cam", "HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": 1}}}, 400},
		{"bad expires", map[string]any{"StreamName": "cam", "Expires": 10}, 400},
		{"bad max results", map[string]any{"StreamName": "cam", "MaxMediaPlaylistFragmentResults": 0}, 400},
		{"unknown stream", map[string]any{"StreamName": "nope"}, 404},
		{"no fragments in range", map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND",
			"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": 1, "EndTimestamp": 2}}}, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, code := f.session(c.req); code != c.code {
				t.Fatalf("status %d, want %d", code, c.code)
			}
		})
	}
	// LIVE needs a recent fragment.
	f.clk.Advance(time.Minute)
	if _, code := f.session(map[string]any{"StreamName": "cam"}); code != 404 {
		t.Fatalf("LIVE with a stale stream: %d, want 404", code)
	}
}

// TestSessionOutlivesNoStream: a session's requests are refused once its
// stream is deleted, and stay refused when a stream of the same name is
// created again (storeOf compares the session's creation time with the
// store's).
func TestSessionOutlivesNoStream(t *testing.T) {
	f := newFixture(t)
	f.add(2, 0, f.initA)
	f.clk.Set(f.at)
	u, code := f.session(map[string]any{"StreamName": "cam"})
	if code != 200 {
		t.Fatalf("session: %d", code)
	}
	if code, pl := f.get(u); code != 200 {
		t.Fatalf("playlist: %d %s", code, pl)
	}
	if err := f.m.DeleteStream("cam", nil); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.get(u); code != 404 {
		t.Fatalf("playlist of a deleted stream: %d, want 404", code)
	}
	f.clk.Advance(time.Second)
	if _, err := f.m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	f.st, _ = f.m.Store("cam")
	f.add(2, 0, f.initA)
	if code, _ := f.get(u); code != 404 {
		t.Fatalf("playlist of a stream created again under the same name: %d, want 404", code)
	}
}

// TestCreatedMemoDropsDeletedStores: storeOf refuses a session whose
// stream was deleted, and created again; and nothing in the server keeps
// the deleted stream's store (its index, timeline and live parts) once
// its last user lets it go.
func TestCreatedMemoDropsDeletedStores(t *testing.T) {
	f := newFixture(t)
	f.add(2, 0, f.initA)
	s := &Server{Manager: f.m}
	d, err := f.m.Describe("cam")
	if err != nil {
		t.Fatal(err)
	}
	sess := &session{Stream: "cam", Created: d.Created.UnixMilli()}
	st, ok := s.storeOf(sess)
	if !ok || st != f.st {
		t.Fatal("storeOf: the session's stream not found")
	}
	if got := st.Created(); !got.Equal(d.Created) {
		t.Fatalf("Store.Created %v, Describe's %v", got, d.Created)
	}
	gone := weak.Make(st)
	st, f.st = nil, nil
	if err := f.m.DeleteStream("cam", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.storeOf(sess); ok {
		t.Fatal("storeOf: a deleted stream found")
	}
	for i := 0; i < 10 && gone.Value() != nil; i++ {
		runtime.GC()
	}
	if gone.Value() != nil {
		t.Fatal("the deleted stream's store is still reachable")
	}
	runtime.KeepAlive(s)

	f.clk.Advance(time.Second)
	d2, err := f.m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.storeOf(sess); ok {
		t.Fatal("storeOf: a session of the deleted stream accepted by the stream created again")
	}
	st2, ok := s.storeOf(&session{Stream: "cam", Created: d2.Created.UnixMilli()})
	if !ok || st2 == nil || !st2.Created().Equal(d2.Created) {
		t.Fatal("storeOf: a session of the stream created again refused")
	}
}
