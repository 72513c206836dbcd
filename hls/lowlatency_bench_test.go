package hls

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
)

// discardWriter is a ResponseWriter that counts the body.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(c int)   { w.code = c }
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// BenchmarkBlockingReload200 is one part cut while 200 LL-HLS viewers
// (each its own session, as players are) wait in a blocking playlist
// reload for it: one op is the change and all 200 answers, through the
// server's handler without a network. Every tenth part completes a
// fragment, which is then stored (a second change, which wakes the
// waiters again without answering them). µs-first-asker is how long
// after the cut the viewer that asked first was answered.
func BenchmarkBlockingReload200(b *testing.B) {
	const viewers = 200
	f := newFixture(b)
	f.m.PartDuration = 200 * time.Millisecond
	f.add(5, 0, f.initA)
	f.clk.Set(f.at)
	live := f.st.Live()
	live.Start(200 * time.Millisecond)
	urls := make([]string, viewers)
	for i := range urls {
		u, code := f.session(map[string]any{"StreamName": "cam", "DisplayFragmentTimestamp": "ALWAYS"})
		if code != 200 {
			b.Fatalf("session: %d", code)
		}
		urls[i] = strings.TrimPrefix(u, f.srv.URL)
	}
	media := make([]byte, 60<<10)
	seg := fragments.LiveSegment{Seq: f.st.NextSeq(), InitID: f.initA.ID, ServerTime: f.at.UnixNano(), ProducerTime: f.at.UnixNano(), Keyframe: true}
	parts := 0
	cut := func() {
		last := parts%10 == 9
		live.AddPart(seg, f.initA, &fragments.LivePart{Duration: int64(200 * time.Millisecond), Independent: parts%10 == 0, Media: media}, last)
		parts++
		if last {
			f.appendAt(f.at, f.at)
			f.at = f.at.Add(2 * time.Second)
			f.clk.Set(f.at)
			seg.Seq, seg.ServerTime, seg.ProducerTime = f.st.NextSeq(), f.at.UnixNano(), f.at.UnixNano()
		}
	}
	// next is the (msn, part) a viewer asks for after answer n.
	next := func() (uint64, int) { return seg.Seq, parts % 10 }
	var answered sync.WaitGroup
	var bytes, firstWait atomic.Int64
	var cutAt atomic.Int64
	round := make([]chan struct{}, viewers)
	for i := range round {
		round[i] = make(chan struct{}, 1)
	}
	ask := func(i int, msn uint64, part int) {
		req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", urls[i], msn, part), nil)
		w := &discardWriter{h: http.Header{}}
		f.h.ServeHTTP(w, req)
		if w.code != http.StatusOK || w.n == 0 {
			b.Errorf("viewer %d: %d, %d bytes", i, w.code, w.n)
		}
		bytes.Add(int64(w.n))
		if i == 0 {
			firstWait.Add(time.Now().UnixNano() - cutAt.Load())
		}
		answered.Done()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		msn, part := next()
		answered.Add(viewers)
		// Viewer 0 asks first (the part watcher of eddy bench hls --ll,
		// which loads no parts), the others after it.
		go ask(0, msn, part)
		time.Sleep(2 * time.Millisecond)
		for i := 1; i < viewers; i++ {
			go ask(i, msn, part)
		}
		time.Sleep(20 * time.Millisecond) // all blocked in the reload
		b.StartTimer()
		cutAt.Store(time.Now().UnixNano())
		cut()
		answered.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(bytes.Load())/float64(b.N*viewers), "B/answer")
	b.ReportMetric(float64(firstWait.Load())/float64(b.N)/1e3, "µs-first-asker")
}
