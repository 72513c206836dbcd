package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// BenchmarkStreamList measures GET /api/v1/streams, which the camera wall
// and its list view ask for every 3 s, for a site of 300 offline streams,
// each with 2 minutes of recording (60 fragments) and 200 events today:
// the size, the first and last fragment, the recorded tracks and the
// events count of each, over loopback HTTP. It reports the time per
// stream besides the time per request.
//
//	go test -run '^$' -bench BenchmarkStreamList -benchtime 50x ./web/
func BenchmarkStreamList(b *testing.B) {
	const streams = 300
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := datastreamstest.NewClock(t0.Add(time.Hour))
	core, m := fragmentstest.NewManager(b, b.TempDir(), clk, 1<<20)
	synth := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 120, GOP: 50}
	frags := fragmentstest.RunFragmenter(b, &fragmenter.Fragmenter{Tracks: synth.Tracks()}, synth.Units(t0))
	events := make([]datastreams.PutEntry, 0, 200)
	for i := range 200 {
		events = append(events, datastreams.PutEntry{Key: []byte("k"), Data: fmt.Appendf(nil,
			`{"type":"detection","time":%q,"duration":0.5,"label":"person","score":0.9}`,
			t0.Add(time.Duration(i)*600*time.Millisecond).Format(time.RFC3339Nano))})
	}
	for i := range streams {
		name := fmt.Sprintf("cam-%03d", i)
		if _, err := m.CreateStream(name, fragments.CreateOptions{RetentionHours: 24}); err != nil {
			b.Fatal(err)
		}
		st, err := m.Store(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range frags {
			if _, err := st.Append(e.Init, e.F); err != nil {
				b.Fatal(err)
			}
		}
		es, err := core.Stream(name + ".events")
		if err != nil {
			b.Fatal(err)
		}
		if res, err := es.Put(events); err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
	}
	r := chi.NewRouter()
	(&Handler{Manager: m, Now: clk.Now}).Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	u := srv.URL + "/api/v1/streams?eventsSince=" + url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339))
	get := func(w io.Writer) int64 {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(w, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatal(resp.Status, err)
		}
		return n
	}
	// The first list (which reads the events index from disk) is checked:
	// the figure is of a list that counts what it should.
	var first bytes.Buffer
	size := get(&first)
	var rows []streamInfo
	if err := json.Unmarshal(first.Bytes(), &rows); err != nil || len(rows) != streams {
		b.Fatalf("%d rows, %v", len(rows), err)
	}
	for _, s := range rows {
		if s.State != "offline" || s.EventsToday != len(events) || s.LastFragment == nil || len(s.Codecs) != 2 {
			b.Fatalf("row %+v", s)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		get(io.Discard)
	}
	per := float64(b.Elapsed().Microseconds()) / float64(b.N) / streams
	b.ReportMetric(per, "µs/stream")
	b.ReportMetric(float64(size), "B/answer")
}
