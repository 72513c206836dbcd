package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// BenchmarkEventsAPIHour reads 1-hour windows of events over HTTP (a real
// loopback connection, GET /api/v1/streams/{name}/events) from a stream
// whose last three hours hold 10 events/s written with PutRecords-sized
// batches through the event stream (108,000 events), and reports p50/p99
// of the first page (limit 1,000) and of the whole hour (36,000 events in
// pages of 10,000, every answer read to its end and its events counted). The index's own read
// over a 10-year timeline is fragments/events' BenchmarkQueryTenYears;
// this adds what the REST endpoint costs on top: parameters, the answer's
// JSON, HTTP.
//
//	go test -run '^$' -bench BenchmarkEventsAPIHour -benchtime 200x ./web/
func BenchmarkEventsAPIHour(b *testing.B) {
	const hours = 3
	now := time.Now().UTC().Truncate(time.Hour)
	clk := datastreamstest.NewClock(now)
	core, m := fragmentstest.NewManager(b, b.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		b.Fatal(err)
	}
	es, err := core.Stream("cam.events")
	if err != nil {
		b.Fatal(err)
	}
	first := now.Add(-hours * time.Hour)
	labels := []string{"person", "car", "bicycle", "dog"}
	batch := make([]datastreams.PutEntry, 0, 500)
	flush := func() {
		res, err := es.Put(batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		batch = batch[:0]
	}
	total := hours * 36000
	for i := range total {
		at := first.Add(time.Duration(i) * 100 * time.Millisecond)
		batch = append(batch, datastreams.PutEntry{Key: []byte("k"), Data: fmt.Appendf(nil,
			`{"type":"detection","time":%q,"duration":0.1,"label":%q,"score":0.87,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":%d}}`,
			at.Format(time.RFC3339Nano), labels[i%4], i%50)})
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	r := chi.NewRouter()
	(&Handler{Manager: m}).Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func(q url.Values) (int, string) {
		resp, err := http.Get(srv.URL + "/api/v1/streams/cam/events?" + q.Encode())
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte(`{"events":[`)) {
			b.Fatalf("%d %.200s", resp.StatusCode, body)
		}
		// Counted, not decoded: the client's decoding is not the
		// endpoint's cost (the tests check the answers).
		next := ""
		if i := bytes.LastIndex(body, []byte(`"nextToken":"`)); i >= 0 {
			rest := body[i+len(`"nextToken":"`):]
			next = string(rest[:bytes.IndexByte(rest, '"')])
		}
		return bytes.Count(body, []byte(`{"id":`)), next
	}
	window := func(i int) url.Values {
		// Start anywhere in the first two hours, so that the hour is full.
		from := first.Add(time.Duration(i*7919%7200) * time.Second).Add(time.Duration(i%10) * 10 * time.Millisecond)
		return url.Values{"start": {from.Format(time.RFC3339Nano)}, "end": {from.Add(time.Hour).Format(time.RFC3339Nano)}}
	}
	var page, whole []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := window(i)
		t0 := time.Now()
		n, _ := get(q)
		page = append(page, time.Since(t0))
		if n != 1000 {
			b.Fatalf("first page: %d events", n)
		}
		q = window(i + 1)
		q.Set("limit", "10000")
		got := 0
		t0 = time.Now()
		for {
			n, next := get(q)
			got += n
			if next == "" {
				break
			}
			q.Set("nextToken", next)
		}
		whole = append(whole, time.Since(t0))
		if got < 35999 || got > 36001 {
			b.Fatalf("whole hour: %d events", got)
		}
	}
	b.StopTimer()
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	report("page", page)
	report("hour", whole)
}
