package datastreams

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// dirCold is a filelog.Cold keeping uploaded segments as files in a
// directory of its own (the object store is not what is tested here).
type dirCold struct{ dir string }

func (c *dirCold) Attach(*filelog.Log)                         {}
func (c *dirCold) Detach(*filelog.Log)                         {}
func (c *dirCold) Trimmed(*filelog.Log, []filelog.SegmentInfo) {}
func (c *dirCold) object(base uint64) string {
	return filepath.Join(c.dir, fmt.Sprintf("%020d.seg", base))
}
func (c *dirCold) OpenSegment(_ *filelog.Log, base uint64, size int64) (io.ReaderAt, error) {
	fi, err := os.Stat(c.object(base))
	if err != nil {
		return nil, err
	}
	if fi.Size() != size {
		return nil, fmt.Errorf("object %d has %d bytes, want %d", base, fi.Size(), size)
	}
	return fileAt(c.object(base)), nil
}

type fileAt string

func (p fileAt) ReadAt(b []byte, off int64) (int, error) {
	f, err := os.Open(string(p))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(b, off)
}

// upload copies a sealed segment into the store and records it.
func (c *dirCold) upload(t *testing.T, l *filelog.Log, si filelog.SegmentInfo) {
	t.Helper()
	b, err := os.ReadFile(si.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.object(si.Base), b, 0o644); err != nil {
		t.Fatal(err)
	}
	u := filelog.Upload{Size: int64(len(b)), CRC32C: crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)), At: 1}
	if err := l.MarkUploaded(si.Base, u); err != nil {
		t.Fatal(err)
	}
}

// TestFloorDropsLocalCopyOfUploadedData: with object storage, the floor
// reaches the oldest segment, already uploaded: DropOldest frees its
// bytes and loses no record. The floor takes that as progress (not as a
// shard with nothing to give), logs and counts it as a local copy
// dropped, not as data deleted, and every record still reads (through
// the tier). When more space is needed, the next oldest segment, never
// uploaded, is deleted and said so.
func TestFloorDropsLocalCopyOfUploadedData(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	logs := &logLines{}
	reg := prometheus.NewRegistry()
	cold := &dirCold{dir: t.TempDir()}
	const segBytes, minFree = 64 << 10, 1 << 20
	c := &Core{Dir: t.TempDir(), Now: clk.Now, Logger: slog.New(logs), Registerer: reg,
		MinFree: FreeSpace{Bytes: minFree}, FloorInterval: time.Hour, JanitorInterval: time.Hour}
	c.OpenLog = func(dir string) (logstore.Log, error) {
		return filelog.Open(dir, filelog.Options{SegmentBytes: segBytes, Now: clk.Now, Cold: cold})
	}
	var size, extra uint64
	c.DiskUsage = func() (free, total uint64, err error) {
		used := extra
		for _, s := range c.Streams() {
			s.mu.RLock()
			for _, sh := range s.shards {
				used += uint64(sh.log.(*filelog.Log).LocalSize()) // cold segments take no local disk
			}
			s.mu.RUnlock()
		}
		return size - min(used, size), size, nil
	}
	size = 1 << 40 // no pressure while writing
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	trims := 0
	c.AfterTrim = func(*Stream) { trims++ }
	s, err := c.CreateStream("cam", CreateOptions{ShardCount: 1, Mode: ModeOnDemand})
	if err != nil {
		t.Fatal(err)
	}
	var want []logstore.Record
	for i := range 100 {
		data := bytes.Repeat([]byte{byte(i)}, 4<<10)
		res, err := s.Put([]PutEntry{{Key: []byte("k"), Data: data}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put: %v %v", err, res)
		}
		want = append(want, logstore.Record{Seq: res[0].Seq, Data: data})
		clk.Advance(time.Second)
	}
	l := mustShard(t, s).Log().(*filelog.Log)
	sealed := l.Sealed()
	if len(sealed) < 4 {
		t.Fatalf("%d sealed segments, want several", len(sealed))
	}
	cold.upload(t, l, sealed[0])
	cold.upload(t, l, sealed[1])
	first, next := l.Bounds()

	// A deficit smaller than one segment: the oldest one's local copy goes.
	used := uint64(l.LocalSize())
	size = used + minFree - 1000
	recs, n := c.EnforceFloor()
	if recs != 0 || n != sealed[0].Size {
		t.Fatalf("EnforceFloor lost %d records, freed %d bytes; want 0 records and the oldest segment's %d bytes", recs, n, sealed[0].Size)
	}
	if f, nx := l.Bounds(); f != first || nx != next {
		t.Fatalf("log %d..%d after the floor, want %d..%d (nothing lost)", f, nx, first, next)
	}
	if si := l.Sealed()[0]; si.Local || si.Base != sealed[0].Base {
		t.Fatalf("oldest segment after the floor: %+v, want segment %d cold", si, sealed[0].Base)
	}
	if got := floorMessages(logs); len(got) != 1 || got[0] != "free space below storage.min_free: dropped the local copy of uploaded data (still in the bucket)" {
		t.Fatalf("floor logged %q", got)
	}
	if v := counter(t, reg, "eddy_retention_floor_local_drops_total"); v != 1 {
		t.Errorf("eddy_retention_floor_local_drops_total = %v, want 1", v)
	}
	if v := counter(t, reg, "eddy_retention_floor_local_dropped_bytes_total"); int64(v) != n {
		t.Errorf("eddy_retention_floor_local_dropped_bytes_total = %v, want %d", v, n)
	}
	if v := counter(t, reg, "eddy_retention_floor_deletions_total"); v != 0 {
		t.Errorf("eddy_retention_floor_deletions_total = %v, want 0", v)
	}
	if trims != 0 {
		t.Errorf("AfterTrim called %d times though no record went", trims)
	}

	// A deficit of two more segments: the next uploaded one loses its
	// local copy, then the oldest never uploaded is deleted.
	extra = uint64(sealed[0].Size + sealed[1].Size)
	recs, n = c.EnforceFloor()
	if recs == 0 || n != sealed[1].Size+sealed[2].Size {
		t.Fatalf("EnforceFloor lost %d records, freed %d bytes; want segment %d's records and %d bytes", recs, n, sealed[2].Base, sealed[1].Size+sealed[2].Size)
	}
	if want := sealed[2].Next - sealed[2].Base; recs != want {
		t.Fatalf("EnforceFloor lost %d records, want segment %d's %d", recs, sealed[2].Base, want)
	}
	got := floorMessages(logs)
	wantMsgs := []string{
		"free space below storage.min_free: dropped the local copy of uploaded data (still in the bucket)",
		"free space below storage.min_free: dropped the local copy of uploaded data (still in the bucket)",
		"free space below storage.min_free: deleted the oldest data",
	}
	if strings.Join(got, "\n") != strings.Join(wantMsgs, "\n") {
		t.Fatalf("floor logged %q, want %q", got, wantMsgs)
	}
	if v := counter(t, reg, "eddy_retention_floor_deletions_total"); v != 1 {
		t.Errorf("eddy_retention_floor_deletions_total = %v, want 1", v)
	}
	if v := counter(t, reg, "eddy_retention_floor_records_total"); uint64(v) != recs {
		t.Errorf("eddy_retention_floor_records_total = %v, want %d", v, recs)
	}
	if trims != 1 {
		t.Errorf("AfterTrim called %d times, want once", trims)
	}
	// The cold segments' records read as written; the hole is skipped.
	for _, seg := range sealed[:2] {
		got, err := l.Read(seg.Base, int(seg.Next-seg.Base), 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			w := want[r.Seq-want[0].Seq]
			if r.Seq != seg.Base+uint64(i) || !bytes.Equal(r.Data, w.Data) {
				t.Fatalf("cold record %d reads differently from what was written", r.Seq)
			}
		}
		if uint64(len(got)) != seg.Next-seg.Base {
			t.Fatalf("segment %d: %d records read, want %d", seg.Base, len(got), seg.Next-seg.Base)
		}
	}
}

// floorMessages returns the floor's log lines about what it freed.
func floorMessages(l *logLines) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.lines {
		if strings.HasPrefix(r.Message, "free space below storage.min_free:") {
			out = append(out, r.Message)
		}
	}
	return out
}
