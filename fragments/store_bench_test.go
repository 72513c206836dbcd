package fragments_test

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// BenchmarkStoreAppend500KB stores 500 KB fragments (a 2 s fragment of a
// 2 Mbit/s camera) the way the recorder does: the media marshalled after
// RecordHeaderSize free bytes, then Store.Append, which writes the log
// record, fsyncs it, writes the index entry and puts the fragment notice
// on {name}.events (fsynced too). The record buffer is reused, so B/op and
// allocs/op are the store's own; writes/op counts write(2) calls of the
// process (from /proc/self/io; absent elsewhere).
func BenchmarkStoreAppend500KB(b *testing.B) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, m := fragmentstest.NewManager(b, b.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		b.Fatal(err)
	}
	st, _ := m.Store("cam")
	init := &fragments.InitSegment{ID: fragments.InitID{9}, Bytes: []byte("init")}
	rec := make([]byte, fragments.RecordHeaderSize+500_000)
	for i := range rec {
		rec[i] = byte(i)
	}
	appendOne := func() {
		now := clk.Now()
		f := &fragments.Fragment{ServerTime: now.UnixNano(), ProducerTime: now.UnixNano(), Duration: int64(2 * time.Second),
			Keyframe: true, InitID: init.ID}
		f.SetRecord(rec)
		if _, err := st.Append(init, f); err != nil {
			b.Fatal(err)
		}
		clk.Advance(2 * time.Second)
	}
	appendOne() // the init segment is saved once
	w0, counted := writeSyscalls()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		appendOne()
	}
	b.StopTimer()
	if w1, ok := writeSyscalls(); counted && ok {
		b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
	}
}

// writeSyscalls returns the write(2) calls the process has made so far.
func writeSyscalls() (int64, bool) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("syscw: ")); ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
