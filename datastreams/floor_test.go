package datastreams

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

func TestFreeSpaceOf(t *testing.T) {
	cases := []struct {
		name  string
		f     FreeSpace
		total uint64
		want  uint64
	}{
		{"off", FreeSpace{}, 1 << 40, 0},
		{"percent", FreeSpace{Percent: 5}, 1000, 50},
		{"bytes", FreeSpace{Bytes: 10 << 30}, 1 << 40, 10 << 30},
		{"the larger of both", FreeSpace{Bytes: 100, Percent: 5}, 1000, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Of(tc.total); got != tc.want {
				t.Fatalf("%+v.Of(%d) = %d, want %d", tc.f, tc.total, got, tc.want)
			}
		})
	}
}

// fakeDisk is a filesystem of size bytes whose used space is what the
// core's logs occupy plus extra.
type fakeDisk struct {
	c     *Core
	size  uint64
	extra uint64
}

func (d *fakeDisk) usage() (free, total uint64, err error) {
	used := d.extra
	for _, s := range d.c.Streams() {
		s.mu.RLock()
		for _, sh := range s.shards {
			used += uint64(sh.log.Size())
		}
		s.mu.RUnlock()
	}
	return d.size - min(used, d.size), d.size, nil
}

// logLines collects what a core logs, for the floor's deletion lines.
type logLines struct {
	mu    sync.Mutex
	lines []slog.Record
}

func (l *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (l *logLines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r)
	l.mu.Unlock()
	return nil
}
func (l *logLines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logLines) WithGroup(string) slog.Handler      { return l }

// deleted returns the newest record time of every unit the floor deleted,
// in the order it deleted them.
func (l *logLines) deleted() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Time
	for _, r := range l.lines {
		if !strings.HasPrefix(r.Message, "free space below storage.min_free: deleted") {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "newest_deleted" {
				out = append(out, a.Value.Time())
			}
			return true
		})
	}
	return out
}

// floorCore starts a core on a fake disk of size bytes, with small
// segments, a floor of minFree bytes and a clock the test moves.
func floorCore(t *testing.T, size uint64, minFree int64, segBytes int64) (*Core, *fakeDisk, *datastreamstest.Clock, *logLines, *prometheus.Registry) {
	t.Helper()
	clk := datastreamstest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	logs := &logLines{}
	reg := prometheus.NewRegistry()
	c := &Core{Dir: t.TempDir(), SegmentBytes: segBytes, Now: clk.Now, Logger: slog.New(logs), Registerer: reg,
		MinFree: FreeSpace{Bytes: minFree}, FloorInterval: time.Hour, JanitorInterval: time.Hour}
	d := &fakeDisk{c: c, size: size}
	c.DiskUsage = d.usage
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, d, clk, logs, reg
}

// TestFloorDeletesOldestFirst: three streams written at different paces
// (so their segments interleave in time) on a disk that their data would
// take below the floor. EnforceFloor deletes whole segments until the floor
// holds, each time the one whose newest record is the oldest: every
// segment kept is newer than every segment deleted. Deletions are logged
// and counted, and the video layer's hook hears of every stream trimmed.
func TestFloorDeletesOldestFirst(t *testing.T) {
	c, d, clk, logs, reg := floorCore(t, 4<<20, 1<<20, 64<<10)
	var trimmedMu sync.Mutex
	trimmed := map[string]int{}
	c.AfterTrim = func(s *Stream) { trimmedMu.Lock(); trimmed[s.Name()]++; trimmedMu.Unlock() }
	rates := map[string]int{"a": 1, "b": 2, "c": 3} // records per tick
	streams := map[string]*Stream{}
	for name := range rates {
		s, err := c.CreateStream(name, CreateOptions{ShardCount: 1, Mode: ModeOnDemand})
		if err != nil {
			t.Fatal(err)
		}
		streams[name] = s
	}
	data := bytes.Repeat([]byte("x"), 4<<10)
	for tick := 0; tick < 150; tick++ {
		for name, n := range rates {
			for range n {
				if res, err := streams[name].Put([]PutEntry{{Key: []byte(name), Data: data}}); err != nil || res[0].Err != nil {
					t.Fatalf("put: %v %v", err, res)
				}
			}
		}
		clk.Advance(time.Second)
	}
	free, _, _ := d.usage()
	if free >= 1<<20 {
		t.Fatalf("the test wrote too little: %d bytes free", free)
	}
	recs, n := c.EnforceFloor()
	if free, _, _ = d.usage(); free < 1<<20 {
		t.Fatalf("after EnforceFloor %d bytes free, want at least the floor %d", free, 1<<20)
	}
	got := logs.deleted()
	if recs == 0 || n == 0 || len(got) == 0 {
		t.Fatalf("EnforceFloor deleted %d records, %d bytes, logged %d deletions", recs, n, len(got))
	}
	if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Before(got[j]) }) {
		t.Fatalf("deleted out of order: %v", got)
	}
	last := got[len(got)-1]
	for name, s := range streams {
		sh, _ := s.Shard(0)
		newest, _, _, ok := sh.log.(logstore.Reclaimer).Oldest()
		if !ok || time.Unix(0, newest).Before(last) {
			t.Errorf("stream %s keeps a segment ending %v, older than one deleted (%v)", name, time.Unix(0, newest).UTC(), last)
		}
	}
	if v := counter(t, reg, "eddy_retention_floor_deletions_total"); int(v) != len(got) {
		t.Errorf("eddy_retention_floor_deletions_total = %v, want %d", v, len(got))
	}
	if v := counter(t, reg, "eddy_retention_floor_bytes_total"); int64(v) != n {
		t.Errorf("eddy_retention_floor_bytes_total = %v, want %d", v, n)
	}
	trimmedMu.Lock()
	defer trimmedMu.Unlock()
	if len(trimmed) == 0 {
		t.Error("AfterTrim was not called for the streams the floor trimmed")
	}
}

// TestFloorTakesTheActiveSegmentLast: when every stream's data is in the
// segment being written (segments larger than the disk allows), the floor
// seals and deletes the one whose newest record is oldest, and the stream
// goes on from the next sequence number.
func TestFloorTakesTheActiveSegmentLast(t *testing.T) {
	c, d, clk, _, _ := floorCore(t, 1<<20, 256<<10, 64<<20)
	idle, err := c.CreateStream("idle", CreateOptions{ShardCount: 1, Mode: ModeOnDemand})
	if err != nil {
		t.Fatal(err)
	}
	busy, err := c.CreateStream("busy", CreateOptions{ShardCount: 1, Mode: ModeOnDemand})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("y"), 100<<10)
	put := func(s *Stream) PutResult {
		t.Helper()
		res, err := s.Put([]PutEntry{{Key: []byte("k"), Data: data}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put: %v %v", err, res)
		}
		return res[0]
	}
	for range 4 {
		put(idle)
		clk.Advance(time.Second)
	}
	var last PutResult
	for range 5 {
		last = put(busy)
		clk.Advance(time.Second)
	}
	if recs, _ := c.EnforceFloor(); recs != 4 {
		t.Fatalf("EnforceFloor deleted %d records, want the idle stream's 4", recs)
	}
	if free, _, _ := d.usage(); free < 256<<10 {
		t.Fatalf("%d bytes free after EnforceFloor", free)
	}
	if first, next := mustShard(t, idle).Log().Bounds(); first != 5 || next != 5 {
		t.Fatalf("idle stream's log %d..%d after the floor, want 5..5 (empty, numbering kept)", first, next)
	}
	if r := put(busy); r.Seq != last.Seq+1 {
		t.Fatalf("busy stream went on at %d, want %d", r.Seq, last.Seq+1)
	}
}

// TestFullDiskFailsWritesCleanly runs a core on a real, small tmpfs. With
// no floor, a Put that finds the disk full fails every record with an
// internal error that says so (its cause is ENOSPC), is counted, stores
// nothing, and the writer goes on: once space returns the next Put
// succeeds with the next sequence number. With a floor, the first write
// that finds the disk full wakes the floor at once (its ticker here is an
// hour), which frees space for the next one.
func TestFullDiskFailsWritesCleanly(t *testing.T) {
	for _, floor := range []int64{0, 512 << 10} {
		t.Run(fmt.Sprintf("min_free=%d", floor), func(t *testing.T) {
			dir := datastreamstest.Tmpfs(t, 4<<20)
			reg := prometheus.NewRegistry()
			c := &Core{Dir: filepath.Join(dir, "data"), SegmentBytes: 256 << 10, Registerer: reg, Logger: slog.New(slog.DiscardHandler),
				MinFree: FreeSpace{Bytes: floor}, FloorInterval: time.Hour}
			if err := c.Initialize(); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s, err := c.CreateStream("kds", CreateOptions{ShardCount: 1, Mode: ModeOnDemand})
			if err != nil {
				t.Fatal(err)
			}
			data := bytes.Repeat([]byte("z"), 64<<10)
			var acked uint64
			for i := 0; i < 10; i++ { // 640 KiB: older segments for the floor
				res, err := s.Put([]PutEntry{{Key: []byte("k"), Data: data}})
				if err != nil || res[0].Err != nil {
					t.Fatalf("put %d: %v %v", i, err, res)
				}
				acked = res[0].Seq
			}
			filler := filepath.Join(dir, "filler")
			datastreamstest.Fill(t, filler, 0)
			res, err := s.Put([]PutEntry{{Key: []byte("k"), Data: data}, {Key: []byte("k"), Data: data}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !IsNoSpace(r.Err) || KindOf(r.Err) != KindInternal || !strings.Contains(r.Err.Error(), "storage is full") {
					t.Fatalf("put on a full disk: %v, want an internal error caused by ENOSPC", r.Err)
				}
			}
			if v := counter(t, reg, "eddy_disk_full_errors_total"); v != 1 {
				t.Errorf("eddy_disk_full_errors_total = %v, want 1", v)
			}
			if floor == 0 {
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
			} else {
				waitFor(t, func() bool { free, _, _ := StatDisk(dir); return free >= uint64(floor) })
			}
			res, err = s.Put([]PutEntry{{Key: []byte("k"), Data: data}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("put after space returned: %v %v", err, res)
			}
			if res[0].Seq != acked+1 {
				t.Fatalf("sequence %d after the failure, want %d: the failed records took none", res[0].Seq, acked+1)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustShard(t *testing.T, s *Stream) *Shard {
	t.Helper()
	sh, err := s.Shard(0)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// counter returns the value of the counter name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
