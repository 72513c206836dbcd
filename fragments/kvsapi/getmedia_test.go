package kvsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// gmEnv is the Kinesis Video API over one stream "cam", with real
// fragments (synthetic H.264 + AAC through the fragmenter) to append.
type gmEnv struct {
	url   string
	core  *datastreams.Core
	clk   *datastreamstest.Clock
	m     *fragments.Manager
	st    *fragments.Store
	reg   *prometheus.Registry
	api   *kvsapi.API
	frags []fragmentstest.Emitted
	n     int
	last  time.Time // addTagged's last fragment start
}

func newGMEnv(t testing.TB, mutate ...func(*kvsapi.API)) *gmEnv {
	t.Helper()
	clk := datastreamstest.NewClock(time.Now())
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	api := &kvsapi.API{Videos: m, Metrics: kvsapi.NewMetrics(reg, nil), Now: time.Now}
	for _, f := range mutate {
		f(api)
	}
	r := chi.NewRouter()
	api.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	frags := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()},
		fragmentstest.Synth(4, 25, time.Now())) // 1 s fragments
	return &gmEnv{url: srv.URL, core: core, clk: clk, m: m, st: st, reg: reg, api: api, frags: frags}
}

// add appends one more real fragment, stamped now, and returns its
// sequence.
func (e *gmEnv) add(t testing.TB) uint64 {
	t.Helper()
	return e.addAt(t, time.Now().UnixNano())
}

// addAt appends one more real fragment stamped now (Unix ns).
func (e *gmEnv) addAt(t testing.TB, now int64) uint64 {
	t.Helper()
	em := e.frags[e.n%len(e.frags)]
	e.n++
	f := &fragments.Fragment{ServerTime: now, ProducerTime: now, Duration: em.F.Duration, Keyframe: true,
		InitID: em.Init.ID, Media: em.F.Media}
	seq, err := e.st.Append(em.Init, f)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// getMedia posts a GetMedia request body; the caller closes the answer.
func getMedia(ctx context.Context, t testing.TB, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/getMedia", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func selector(typ, member, value string) string {
	s := fmt.Sprintf(`{"StreamName":"cam","StartSelector":{"StartSelectorType":%q`, typ)
	if member != "" {
		s += fmt.Sprintf(`,%q:%s`, member, value)
	}
	return s + "}}"
}

// doc is one document of a GetMedia answer as a consumer sees it.
type doc struct {
	number string // AWS_KINESISVIDEO_FRAGMENT_NUMBER ("" for tag documents)
	frames int
	pre    []mkv.Tag
}

// mediaReader reads a GetMedia answer: fragments as their Cluster ends,
// and the tags after each (continuation token), which a reader only sees
// complete when the next document starts.
type mediaReader struct {
	r      *mkv.Reader
	tokens []string // CONTINUATION_TOKEN values read so far
	errs   []mkv.Tag
}

func newMediaReader(body io.Reader) *mediaReader {
	r := mkv.NewReader(body)
	r.EmitOnClusterEnd = true
	return &mediaReader{r: r}
}

// next returns the next fragment, recording the tag documents before it.
func (m *mediaReader) next() (doc, error) {
	for {
		f, err := m.r.Next()
		if err != nil {
			return doc{}, err
		}
		if len(f.Frames) == 0 {
			if v, ok := f.Tag(mkv.TagContinuationToken); ok {
				m.tokens = append(m.tokens, v)
			}
			if _, ok := f.Tag(mkv.TagErrorID); ok {
				m.errs = append(m.errs, f.PreTags...)
			}
			continue
		}
		n, _ := f.Tag(mkv.TagFragmentNumber)
		return doc{number: n, frames: len(f.Frames), pre: f.PreTags}, nil
	}
}

func num(seq uint64) string { return fragments.FragmentNumber(seq) }

func TestGetMediaRequestErrors(t *testing.T) {
	e := newGMEnv(t)
	e.add(t)
	if _, err := e.m.CreateStream("live0", fragments.CreateOptions{RetentionHours: 0}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		body, code, msg string
		status          int
	}{
		{`{"StreamName":"cam"}`, "InvalidArgumentException", "StartSelector is required.", 400},
		{`{"StreamName":"cam","StartSelector":{}}`, "InvalidArgumentException", "StartSelector.StartSelectorType is required.", 400},
		{selector("LATEST", "", ""), "InvalidArgumentException", `StartSelector.StartSelectorType "LATEST" is invalid`, 400},
		{selector("FRAGMENT_NUMBER", "", ""), "InvalidArgumentException", "AfterFragmentNumber is required when StartSelectorType is FRAGMENT_NUMBER", 400},
		{selector("FRAGMENT_NUMBER", "AfterFragmentNumber", `"12ab"`), "InvalidArgumentException", "must match [0-9]+", 400},
		{selector("SERVER_TIMESTAMP", "", ""), "InvalidArgumentException", "StartTimestamp is required when StartSelectorType is SERVER_TIMESTAMP", 400},
		{selector("PRODUCER_TIMESTAMP", "StartTimestamp", `"soon"`), "InvalidArgumentException", "StartSelector.StartTimestamp must be a timestamp", 400},
		{selector("CONTINUATION_TOKEN", "", ""), "InvalidArgumentException", "ContinuationToken is required", 400},
		{selector("CONTINUATION_TOKEN", "ContinuationToken", `"a b"`), "InvalidArgumentException", "must match [a-zA-Z0-9_.-]+", 400},
		{selector("CONTINUATION_TOKEN", "ContinuationToken", `"abc"`), "InvalidArgumentException", "is not a continuation token of this stream", 400},
		{`{"StartSelector":{"StartSelectorType":"NOW"}}`, "InvalidArgumentException", "Either StreamName or StreamARN must be provided.", 400},
		{`{"StreamName":"nope","StartSelector":{"StartSelectorType":"NOW"}}`, "ResourceNotFoundException", "nope", 404},
		{`{"StreamName":"cam","StartSelector":[1]}`, "InvalidArgumentException", "The value of StartSelector must be an object", 400},
		{`{"StreamName":"live0","StartSelector":{"StartSelectorType":"NOW"}}`, "NoDataRetentionException", "data retention of 0 hours", 400},
	} {
		resp := getMedia(ctx, t, e.url, c.body)
		var body struct{ Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("x-amzn-ErrorType") != c.code || !strings.Contains(body.Message, c.msg) {
			t.Errorf("%s: %d %s %q, want %d %s containing %q", c.body, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body.Message, c.status, c.code, c.msg)
		}
	}
}

// Each selector starts where it says, and every answer is the stream's
// fragments in order from there, each a self-contained document with
// the KVS tags.
func TestGetMediaSelectors(t *testing.T) {
	e := newGMEnv(t)
	var seqs []uint64
	for range 6 {
		seqs = append(seqs, e.add(t))
		time.Sleep(20 * time.Millisecond)
	}
	third, _ := e.st.Lookup(seqs[2])
	fourth, _ := e.st.Lookup(seqs[3])
	if third.Duration < int64(500*time.Millisecond) {
		t.Fatalf("fragments of %v: the cases below want longer ones", time.Duration(third.Duration))
	}
	secs := func(ns int64) string { return fmt.Sprintf("%.3f", float64(ns)/1e9) }
	for _, c := range []struct {
		name, body string
		first      uint64
	}{
		{"EARLIEST", selector("EARLIEST", "", ""), seqs[0]},
		{"FRAGMENT_NUMBER starts at the fragment", selector("FRAGMENT_NUMBER", "AfterFragmentNumber", `"`+num(seqs[2])+`"`), seqs[2]},
		{"CONTINUATION_TOKEN starts after it", selector("CONTINUATION_TOKEN", "ContinuationToken", `"`+num(seqs[2])+`"`), seqs[3]},
		// Just before the fourth fragment's start (they are 1 s long and
		// overlap, stamped 20 ms apart): the first one whose span holds it.
		{"SERVER_TIMESTAMP", selector("SERVER_TIMESTAMP", "StartTimestamp", secs(fourth.ServerTime-1e6)), seqs[0]},
		{"PRODUCER_TIMESTAMP after the last end", selector("PRODUCER_TIMESTAMP", "StartTimestamp", secs(third.ProducerTime+third.Duration+1e6)), seqs[3]},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp := getMedia(ctx, t, e.url, c.body)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/webm" {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			mr := newMediaReader(resp.Body)
			want := c.first
			for ; want <= seqs[len(seqs)-1]; want++ {
				d, err := mr.next()
				if err != nil {
					t.Fatalf("fragment %d: %v", want, err)
				}
				if d.number != num(want) || d.frames == 0 {
					t.Fatalf("got fragment %s (%d frames), want %s", d.number, d.frames, num(want))
				}
				ent, _ := e.st.Lookup(want)
				if v := tagValue(d.pre, mkv.TagServerTimestamp); v != mkv.FormatTimestamp(time.Unix(0, ent.ServerTime)) {
					t.Errorf("fragment %d: server timestamp %q", want, v)
				}
				if v := tagValue(d.pre, mkv.TagProducerTimestamp); v != mkv.FormatTimestamp(time.Unix(0, ent.ProducerTime)) {
					t.Errorf("fragment %d: producer timestamp %q", want, v)
				}
			}
			// The previous fragments' tags after the cluster: continuation
			// tokens (each the fragment's number) and millis behind now.
			if got := len(mr.tokens); got < int(seqs[len(seqs)-1]-c.first) {
				t.Fatalf("%d continuation tokens read", got)
			}
			for i, tok := range mr.tokens {
				if tok != num(c.first+uint64(i)) {
					t.Fatalf("continuation token %d is %s, want %s", i, tok, num(c.first+uint64(i)))
				}
			}
		})
	}
	// A time past every stored fragment's end: the next one stored.
	last, _ := e.st.Lookup(seqs[5])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := getMedia(ctx, t, e.url, selector("SERVER_TIMESTAMP", "StartTimestamp", secs(last.ServerTime+last.Duration+5e6)))
	defer resp.Body.Close()
	mr := newMediaReader(resp.Body)
	next := e.add(t) // the only fragment ending after that time
	if d, err := mr.next(); err != nil || d.number != num(next) {
		t.Fatalf("SERVER_TIMESTAMP past the last fragment: %s, %v; want the next one %s", d.number, err, num(next))
	}
}

func tagValue(tags []mkv.Tag, name string) string {
	for _, t := range tags {
		if t.Name == name {
			return t.Value
		}
	}
	return ""
}

// A consumer that starts in the archive catches up and goes on live:
// every fragment once, in order, whether stored before it asked, while it
// read the archive, or after it reached the live edge.
func TestGetMediaArchiveToLive(t *testing.T) {
	e := newGMEnv(t)
	for range 20 {
		e.add(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := getMedia(ctx, t, e.url, selector("EARLIEST", "", ""))
	defer resp.Body.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // appends race the reading of the archive, then go on live
		defer wg.Done()
		for range 20 {
			e.add(t)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	mr := newMediaReader(resp.Body)
	for i := uint64(0); i < 40; i++ {
		d, err := mr.next()
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		if d.number != num(e.st.FirstSeq()+i) {
			t.Fatalf("fragment %d is %s, want %s", i, d.number, num(e.st.FirstSeq()+i))
		}
	}
	wg.Wait()
}

// NOW starts with the next fragment stored, not an older one.
func TestGetMediaNow(t *testing.T) {
	e := newGMEnv(t)
	e.add(t)
	e.add(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := getMedia(ctx, t, e.url, selector("NOW", "", ""))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mr := newMediaReader(resp.Body)
	for range 3 {
		seq := e.add(t)
		d, err := mr.next()
		if err != nil || d.number != num(seq) {
			t.Fatalf("got %s, %v; want the fragment stored after the request, %s", d.number, err, num(seq))
		}
	}
}

// A fragment number older than retention keeps, or beyond the stream's
// last, ends the answer with error tags 4000; so does a consumer that
// falls behind retention.
func TestGetMediaErrorTags(t *testing.T) {
	e := newGMEnv(t)
	first := e.add(t)
	for _, c := range []struct{ name, body string }{
		{"future fragment number", selector("FRAGMENT_NUMBER", "AfterFragmentNumber", `"`+num(first+5)+`"`)},
		{"future continuation token", selector("CONTINUATION_TOKEN", "ContinuationToken", `"`+num(first+5)+`"`)},
	} {
		resp := getMedia(context.Background(), t, e.url, c.body)
		mr := newMediaReader(resp.Body)
		_, err := mr.next()
		resp.Body.Close()
		if !errors.Is(err, io.EOF) || tagValue(mr.errs, mkv.TagErrorID) != "4000" || tagValue(mr.errs, mkv.TagErrorCode) != "FRAGMENT_NOT_FOUND" {
			t.Errorf("%s: %v, error tags %v", c.name, err, mr.errs)
		}
	}
	// Retention removes the first fragment: asking for it is an error
	// too, after no fragment at all.
	e.clk.Advance(3 * time.Hour)
	for range 2 {
		e.add(t)
	}
	e.core.EnforceRetention()
	if e.st.FirstSeq() <= first {
		t.Fatalf("retention kept fragment %d", first)
	}
	resp := getMedia(context.Background(), t, e.url, selector("FRAGMENT_NUMBER", "AfterFragmentNumber", `"`+num(first)+`"`))
	defer resp.Body.Close()
	mr := newMediaReader(resp.Body)
	if d, err := mr.next(); !errors.Is(err, io.EOF) || tagValue(mr.errs, mkv.TagErrorID) != "4000" {
		t.Fatalf("trimmed fragment: %+v %v, error tags %v", d, err, mr.errs)
	}
	if got := testutil.ToFloat64(endedMetric(e, "error")); got != 3 {
		t.Errorf("sessions ended with error tags: %v, want 3", got)
	}
}

func endedMetric(e *gmEnv, reason string) prometheus.Collector {
	return gather(e.reg, "eddy_kvs_getmedia_sessions_ended_total", map[string]string{"reason": reason})
}

// gather returns one series of reg as a collector testutil can read.
func gather(reg *prometheus.Registry, name string, labels map[string]string) prometheus.Collector {
	return collectorFunc(func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metrics:
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
						continue metrics
					}
				}
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
		return 0
	})
}

type collectorFunc func() float64

func (f collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, f).Describe(ch)
}

func (f collectorFunc) Collect(ch chan<- prometheus.Metric) {
	prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, f).Collect(ch)
}

// At most three sessions per stream; the fourth is refused, and a slot
// is free again once a session ends.
func TestGetMediaConnectionLimit(t *testing.T) {
	e := newGMEnv(t)
	e.add(t)
	var cancels []context.CancelFunc
	for range kvsapi.MaxGetMediaSessions {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		resp := getMedia(ctx, t, e.url, selector("NOW", "", ""))
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("session: status %d", resp.StatusCode)
		}
	}
	resp := getMedia(context.Background(), t, e.url, selector("NOW", "", ""))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != "ConnectionLimitExceededException" ||
		!bytes.Contains(body, []byte("already has 3 GetMedia connections")) {
		t.Fatalf("fourth session: %d %s %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
	}
	cancels[0]()
	sessions := gather(e.reg, "eddy_kvs_getmedia_sessions", map[string]string{"stream": "cam"})
	waitFor(t, func() bool { return testutil.ToFloat64(sessions) == 2 }, "a session to end")
	resp = getMedia(context.Background(), t, e.url, selector("NOW", "", ""))
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after one ended: status %d", resp.StatusCode)
	}
	for _, c := range cancels {
		c()
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The client's disconnect ends the session at once, at the live edge and
// while fragments are being written; the session cap ends it too.
func TestGetMediaDisconnect(t *testing.T) {
	e := newGMEnv(t, func(a *kvsapi.API) { a.GetMediaSession = 300 * time.Millisecond })
	for range 3 {
		e.add(t)
	}
	sessions := gather(e.reg, "eddy_kvs_getmedia_sessions", map[string]string{"stream": "cam"})

	ctx, cancel := context.WithCancel(context.Background())
	resp := getMedia(ctx, t, e.url, selector("EARLIEST", "", ""))
	mr := newMediaReader(resp.Body)
	for range 3 {
		if _, err := mr.next(); err != nil {
			t.Fatal(err)
		}
	}
	if testutil.ToFloat64(sessions) != 1 {
		t.Fatalf("sessions open: %v", testutil.ToFloat64(sessions))
	}
	// Waiting at the live edge now: the client goes.
	cancel()
	resp.Body.Close()
	waitFor(t, func() bool { return testutil.ToFloat64(sessions) == 0 }, "the session to end after the disconnect")
	if got := testutil.ToFloat64(endedMetric(e, "client")); got != 1 {
		t.Errorf("sessions ended by the client: %v", got)
	}

	// The cap ends a session that nobody feeds, with a clean end.
	resp = getMedia(context.Background(), t, e.url, selector("NOW", "", ""))
	defer resp.Body.Close()
	start := time.Now()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("capped session: %d bytes, %v after %v", len(b), err, time.Since(start))
	}
	if got := testutil.ToFloat64(endedMetric(e, "session_limit")); got != 1 {
		t.Errorf("sessions ended by the cap: %v", got)
	}
}

// Deleting the stream ends its sessions.
func TestGetMediaStreamDeleted(t *testing.T) {
	e := newGMEnv(t)
	e.add(t)
	resp := getMedia(context.Background(), t, e.url, selector("NOW", "", ""))
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := e.m.DeleteStream("cam", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("answer after the delete: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("deleting the stream did not end the session")
	}
}

func FuzzGetMediaRequest(f *testing.F) {
	for _, s := range []string{
		selector("NOW", "", ""), selector("EARLIEST", "", ""),
		selector("FRAGMENT_NUMBER", "AfterFragmentNumber", `"91343852333181432392682062607743920146264867493"`),
		selector("CONTINUATION_TOKEN", "ContinuationToken", `"91343852333181432392682062607743920146264867493"`),
		selector("SERVER_TIMESTAMP", "StartTimestamp", `1700000000.5`), `{"StartSelector":null}`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	e := newGMEnv(f, func(a *kvsapi.API) { a.GetMediaSession = 20 * time.Millisecond })
	e.add(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp := getMedia(ctx, t, e.url, string(body))
		defer resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			// An answer is MKV documents (or none, at the cap).
			mr := newMediaReader(resp.Body)
			for {
				if _, err := mr.next(); err != nil {
					if !errors.Is(err, io.EOF) {
						t.Fatalf("answer to %q: %v", body, err)
					}
					return
				}
			}
		case 400, 404:
			if resp.Header.Get("x-amzn-ErrorType") == "" {
				t.Fatalf("error without a type for %q", body)
			}
		default:
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		}
	})
}

// Shutdown ends the sessions waiting at the live edge, cleanly.
func TestGetMediaShutdown(t *testing.T) {
	e := newGMEnv(t)
	e.add(t)
	resp := getMedia(context.Background(), t, e.url, selector("NOW", "", ""))
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(resp.Body); done <- err }()
	time.Sleep(20 * time.Millisecond)
	e.api.Shutdown()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("answer at shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not end the session")
	}
	if got := testutil.ToFloat64(endedMetric(e, "shutdown")); got != 1 {
		t.Errorf("sessions ended by the shutdown: %v", got)
	}
}

// A session that ends at its cap after idling at the live edge for
// longer than the write deadline still ends cleanly: the deadline of its
// last fragment's write does not cut the end of the answer.
func TestGetMediaCapAfterIdle(t *testing.T) {
	e := newGMEnv(t, func(a *kvsapi.API) {
		a.GetMediaSession = 400 * time.Millisecond
		a.Deadlines.Write = 50 * time.Millisecond
	})
	e.add(t)
	resp := getMedia(context.Background(), t, e.url, selector("EARLIEST", "", ""))
	defer resp.Body.Close()
	a := newMediaReader(resp.Body)
	if _, err := a.next(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end of the capped session: %v, want a clean end", err)
	}
	if len(a.tokens) != 1 {
		t.Fatalf("continuation tokens: %v", a.tokens)
	}
}

// addTagged writes the metadata event of a fragment stamped now, then
// appends the fragment, as PutMedia does (the event first, without a
// fragment number, at the fragment's producer start); it returns the
// fragment's sequence.
func (e *gmEnv) addTagged(t *testing.T, name, value string) uint64 {
	t.Helper()
	em := e.frags[e.n%len(e.frags)]
	// Fragments start at least a frame apart, as a producer's do (the
	// match by time allows 1 ms).
	now := time.Now()
	if floor := e.last.Add(40 * time.Millisecond); now.Before(floor) {
		now = floor
	}
	e.last = now
	b, err := json.Marshal(archive.NewMetadataEvent(now, time.Duration(em.F.Duration), []mkv.Tag{{Name: name, Value: value}}))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Put([]datastreams.PutEntry{{Key: []byte("m"), Data: b}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("put metadata: %v %v", err, res)
	}
	return e.addAt(t, now.UnixNano())
}

// At the live edge, each fragment whose metadata event was written before
// it was stored (as PutMedia does) goes out with its tags, and nothing
// holds a fragment for metadata: an untagged one after tagged ones goes
// out as soon as it is stored.
func TestGetMediaLiveMetadata(t *testing.T) {
	e := newGMEnv(t)
	first := e.addTagged(t, "SEQ", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := getMedia(ctx, t, e.url, selector("FRAGMENT_NUMBER", "AfterFragmentNumber", `"`+num(first)+`"`))
	defer resp.Body.Close()
	mr := newMediaReader(resp.Body)
	for i := range 4 {
		if i > 0 {
			e.addTagged(t, "SEQ", fmt.Sprint(i))
		}
		d, err := mr.next()
		if err != nil {
			t.Fatal(err)
		}
		if v := tagValue(d.pre, "SEQ"); v != fmt.Sprint(i) {
			t.Fatalf("fragment %d (%s): SEQ tag %q, want %d", i, d.number, v, i)
		}
	}
	// A fragment without metadata after them is not held.
	e.add(t)
	start := time.Now()
	if d, err := mr.next(); err != nil || tagValue(d.pre, "SEQ") != "" {
		t.Fatalf("untagged fragment: %v %v", d.pre, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("untagged fragment held %v", d)
	}
}
