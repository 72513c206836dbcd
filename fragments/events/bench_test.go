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
// other quarter-hours: a read opens only the files of its window, found by
// a binary search over those that exist. So the index built here has all
// 350,400 quarter-hour files of ten years, EVENTS_BENCH_DENSE hours of them
// (in pairs, spread over the ten years) full at 10 events/s, and the others
// holding one event each; a window read starts at a random point of the
// first hour of a full pair, so it reads 36,000 events across four or five
// files. Reads are cold in the timeline's own cache (it holds about a
// hundred full quarter-hours, and the windows go over four hundred) but
// warm in the OS page cache.
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
	const buckets = 87600 * 4 // quarter-hours
	first := bucketOf(end.UnixNano()) - buckets
	rng := rand.New(rand.NewPCG(1, 2))
	// A full pair of hours is eight quarter-hours from pair[i].
	var pairs []int64
	for len(pairs) < dense/2 {
		h := first + 4*rng.Int64N(buckets/4-2)
		if !slices.ContainsFunc(pairs, func(p int64) bool { return h > p-8 && h < p+8 }) {
			pairs = append(pairs, h)
		}
	}
	isDense := map[int64]bool{}
	for _, h := range pairs {
		for k := range int64(8) {
			isDense[h+k] = true
		}
	}
	root := filepath.Join(s.Dir(), dirName)
	seq := uint64(1)
	var buf []byte
	labels := []string{"person", "car", "bicycle", "dog"}
	for h := first; h < first+buckets; h++ {
		buf = buf[:0]
		n := 1
		if isDense[h] {
			n = 9000
		}
		for i := range n {
			start := h*bucketNs + int64(i)*int64(100*time.Millisecond)
			ev := fmt.Sprintf(`{"id":%q,"type":"detection","time":%q,"duration":0.1,"label":%q,"score":0.87,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":%d},"serverTime":%q}`,
				datastreams.EncodeSeq(0, seq), time.Unix(0, start).UTC().Format(time.RFC3339Nano), labels[i%4], i%50, time.Unix(0, start).UTC().Format(time.RFC3339Nano))
			buf = append(buf, encodeEntry(start, start+int64(100*time.Millisecond), seq, "detection", labels[i%4], []byte(ev))...)
			seq++
		}
		p := filepath.Join(root, bucketPath(h))
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
	b.Logf("index: %d quarter-hour files over 10 years, %d full; opened in %s", buckets, len(isDense), time.Since(opened).Round(time.Millisecond))
	var page, whole []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := pairs[rng.IntN(len(pairs))]
		from := h*bucketNs + rng.Int64N(int64(time.Hour))
		q := Query{From: from, To: from + int64(time.Hour), Raw: true}
		t0 := time.Now()
		p, err := tl.Query(q)
		page = append(page, time.Since(t0))
		if err != nil || len(p.Raw) != DefaultLimit {
			b.Fatalf("first page: %d events, %v", len(p.Events), err)
		}
		// The whole hour, from another random window (so it is cold too).
		h = pairs[rng.IntN(len(pairs))]
		from = h*bucketNs + rng.Int64N(int64(time.Hour))
		q = Query{From: from, To: from + int64(time.Hour), Limit: MaxLimit, Raw: true}
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
	if os.Getenv("EVENTS_BENCH_DIST") != "" {
		d := slices.Clone(page)
		slices.Sort(d)
		b.Logf("page p50 %s p90 %s p95 %s p97 %s p99 %s max %s", d[len(d)/2], d[len(d)*90/100], d[len(d)*95/100], d[len(d)*97/100], d[len(d)*99/100], d[len(d)-1])
	}
	report("page", page)
	report("hour", whole)
}

// BenchmarkParseNotice: a fragment notice (one per stored fragment, parsed
// by CheckRecord and again by Committed) decoded in full, and recognised
// by isFragmentNotice.
func BenchmarkParseNotice(b *testing.B) {
	n := []byte(`{"type":"fragment","streamName":"bench-142238-001","fragmentNumber":"91343852333181432392682062607743920146264633835","producerTimestamp":1765015200000,"serverTimestamp":1765015200012,"fragmentLengthInMilliseconds":2000,"fragmentSizeInBytes":500048,"keyframe":true}`)
	at := time.Now()
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = parseJSON(n, at, true)
		}
	})
	b.Run("shortcut", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_, _ = parse(n, at, true)
		}
	})
}
