package events

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
)

// BenchmarkQueryTenYears reads 1-hour windows from a timeline spanning ten
// years at 10 events/s, and reports p50/p99 per read of the first page
// (the default limit, 1,000 events) and of the whole hour (36,000 events
// in pages of MaxLimit).
//
// Ten years at 10 events/s is 3.2 billion events (about 600 GB of index);
// this machine cannot hold that, and a read's cost does not depend on the
// other hours: a read opens only the hour files of its window, found by a
// binary search over the hours that exist. So the index built here has all
// 87,600 hour files of ten years, EVENTS_BENCH_DENSE hours of them (in
// pairs, spread over the ten years) full at 10 events/s, and the others
// holding one event each; the windows read start at a random point of the
// first hour of a full pair, so each reads 36,000 events across two files.
// Reads are cold in the timeline's own cache (it holds about 14 full
// hours, and the windows go over many more) but warm in the OS page cache.
//
//	go test -run '^$' -bench BenchmarkQueryTenYears -benchtime 400x ./fragments/events/
func BenchmarkQueryTenYears(b *testing.B) {
	dense := 100
	if v := os.Getenv("EVENTS_BENCH_DENSE"); v != "" {
		_, _ = fmt.Sscan(v, &dense)
	}
	dir := b.TempDir()
	c := &datastreams.Core{Dir: dir}
	if err := c.Initialize(); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateStream("cam.events", datastreams.CreateOptions{ShardCount: 1, Mode: datastreams.ModeOnDemand,
		RetentionHours: 87600, Kind: datastreams.StreamKindEvents, Immediate: true})
	if err != nil {
		b.Fatal(err)
	}
	end := time.Now().UTC().Truncate(time.Hour)
	const hours = 87600
	first := hourOf(end.UnixNano()) - hours
	rng := rand.New(rand.NewPCG(1, 2))
	var pairs []int64
	for len(pairs) < dense/2 {
		h := first + rng.Int64N(hours-2)
		if !slices.Contains(pairs, h) && !slices.Contains(pairs, h-1) && !slices.Contains(pairs, h+1) {
			pairs = append(pairs, h)
		}
	}
	isDense := map[int64]bool{}
	for _, h := range pairs {
		isDense[h], isDense[h+1] = true, true
	}
	root := filepath.Join(s.Dir(), dirName)
	seq := uint64(1)
	var buf []byte
	labels := []string{"person", "car", "bicycle", "dog"}
	for h := first; h < first+hours; h++ {
		buf = buf[:0]
		n := 1
		if isDense[h] {
			n = 36000
		}
		for i := range n {
			start := h*hourNs + int64(i)*int64(100*time.Millisecond)
			ev := fmt.Sprintf(`{"id":%q,"type":"detection","time":%q,"duration":0.1,"label":%q,"score":0.87,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":%d},"serverTime":%q}`,
				datastreams.EncodeSeq(0, seq), time.Unix(0, start).UTC().Format(time.RFC3339Nano), labels[i%4], i%50, time.Unix(0, start).UTC().Format(time.RFC3339Nano))
			buf = append(buf, encodeEntry(&entry{start: start, end: start + int64(100*time.Millisecond), seq: seq, typ: []byte("detection"), label: []byte(labels[i%4]), body: []byte(ev)})...)
			seq++
		}
		p := filepath.Join(root, hourPath(h))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var wm [8]byte
	binary.LittleEndian.PutUint64(wm[:], 0)
	_ = os.WriteFile(filepath.Join(root, watermark), wm[:], 0o644)
	_ = os.WriteFile(filepath.Join(root, formatName), []byte(formatText), 0o644)
	opened := time.Now()
	tl, err := Open(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tl.Close()
	b.Logf("index: %d hour files over 10 years, %d full; opened in %s", hours, len(isDense), time.Since(opened).Round(time.Millisecond))
	var page, whole []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := pairs[rng.IntN(len(pairs))]
		from := h*hourNs + rng.Int64N(hourNs)
		q := Query{From: from, To: from + hourNs, Raw: true}
		t0 := time.Now()
		p, err := tl.Query(q)
		page = append(page, time.Since(t0))
		if err != nil || len(p.Raw) != DefaultLimit {
			b.Fatalf("first page: %d events, %v", len(p.Events), err)
		}
		// The whole hour, from another random window (so it is cold too).
		h = pairs[rng.IntN(len(pairs))]
		from = h*hourNs + rng.Int64N(hourNs)
		q = Query{From: from, To: from + hourNs, Limit: MaxLimit, Raw: true}
		n := 0
		t0 = time.Now()
		for {
			p, err := tl.Query(q)
			if err != nil {
				b.Fatal(err)
			}
			n += len(p.Raw)
			if p.Next == "" {
				break
			}
			q.After = p.Next
		}
		whole = append(whole, time.Since(t0))
		if n < 35999 || n > 36001 {
			b.Fatalf("whole hour: %d events", n)
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
