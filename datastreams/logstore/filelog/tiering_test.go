package filelog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// checkTiering compares what the log keeps up to date (Tiering,
// LocalSealed, SealedSegment, LocalSize, Size, Oldest) with a walk over
// Sealed and with the segment files on disk.
func checkTiering(t *testing.T, l *Log, step string) {
	t.Helper()
	sealed := l.Sealed()
	var want TieringStats
	var local []SegmentInfo
	var coldBytes int64
	for _, s := range sealed {
		if s.Uploaded != nil {
			want.UploadedBytes += s.Size
			want.UploadedSegments++
			if !s.Local {
				want.ColdSegments++
				coldBytes += s.Size
			}
		}
		if s.Local {
			local = append(local, s)
			want.LocalSealedBytes += s.Size
			if s.Uploaded == nil {
				want.PendingBytes += s.Size
				want.PendingSegments++
			}
		}
		if got, ok := l.SealedSegment(s.Base); !ok || !reflect.DeepEqual(got, s) {
			t.Fatalf("%s: SealedSegment(%d) = %+v, %v; want %+v", step, s.Base, got, ok, s)
		}
	}
	if got := l.Tiering(); got != want {
		t.Fatalf("%s: Tiering() = %+v; the sealed segments sum to %+v", step, got, want)
	}
	if got := l.LocalSealed(); !reflect.DeepEqual(got, append([]SegmentInfo{}, local...)) {
		t.Fatalf("%s: LocalSealed() = %d segments; Sealed() has %d local", step, len(got), len(local))
	}
	ents, err := os.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var onDisk int64
	for _, e := range ents {
		if filepath.Ext(e.Name()) == segmentExt {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			onDisk += fi.Size()
		}
	}
	if got := l.LocalSize(); got != onDisk {
		t.Fatalf("%s: LocalSize() = %d; the segment files hold %d", step, got, onDisk)
	}
	if got := l.Size(); got != onDisk+coldBytes {
		t.Fatalf("%s: Size() = %d; want %d local + %d cold", step, got, onDisk, coldBytes)
	}
	newest, bytes, active, ok := l.Oldest()
	if len(local) > 0 {
		if s := local[0]; !ok || active || newest != s.LastTime || bytes != s.Size {
			t.Fatalf("%s: Oldest() = %d, %d, %v, %v; want the oldest local sealed segment %+v", step, newest, bytes, active, ok, s)
		}
	} else if ok && !active {
		t.Fatalf("%s: Oldest() = %d, %d, not active; no sealed segment is local", step, newest, bytes)
	}
}

// TestTieringAccounting runs random uploads (out of order), local drops,
// discards, disk-floor drops, trims, appends and reopens, and checks after
// each that the counts kept up to date match a walk over the segments and
// the files on disk.
func TestTieringAccounting(t *testing.T) {
	l, c, clk := coldLog(t, 300)
	c.deleteTrimmed = true
	checkTiering(t, l, "start")
	r := rand.New(rand.NewPCG(17, 1))
	pick := func(pred func(SegmentInfo) bool) (SegmentInfo, bool) {
		var cand []SegmentInfo
		for _, s := range l.LocalSealed() {
			if pred(s) {
				cand = append(cand, s)
			}
		}
		if len(cand) == 0 {
			return SegmentInfo{}, false
		}
		return cand[r.IntN(len(cand))], true
	}
	mixed := 0
	for i := range 400 {
		var step string
		switch op := r.IntN(12); op {
		case 0, 1, 10, 11:
			step = "append"
			logstoretest.AppendN(t, l, clk, 1+r.IntN(40), 3, 100, time.Second)
		case 2, 3:
			if s, ok := pick(func(s SegmentInfo) bool { return s.Uploaded == nil }); ok {
				step = fmt.Sprintf("upload %d", s.Base)
				c.upload(t, l, s)
			}
		case 4, 5:
			if s, ok := pick(func(s SegmentInfo) bool { return s.Uploaded != nil }); ok {
				step = fmt.Sprintf("drop local %d", s.Base)
				if err := l.DropLocal(s.Base); err != nil {
					t.Fatal(err)
				}
			}
		case 6:
			if s, ok := pick(func(s SegmentInfo) bool { return s.Uploaded == nil }); ok && r.IntN(3) == 0 {
				step = fmt.Sprintf("discard %d", s.Base)
				if _, _, err := l.Discard(s.Base); err != nil {
					t.Fatal(err)
				}
			}
		case 7:
			if r.IntN(3) == 0 {
				step = "drop oldest"
				if _, _, err := l.DropOldest(); err != nil {
					t.Fatal(err)
				}
			}
		case 8:
			if r.IntN(3) == 0 {
				step = "trim"
				if _, _, err := l.Trim(0, l.Size()*9/10); err != nil {
					t.Fatal(err)
				}
			}
		case 9:
			if r.IntN(3) == 0 {
				step = "reopen"
				l = reopen(t, l, l.opts)
			}
		}
		if step != "" {
			checkTiering(t, l, fmt.Sprintf("op %d (%s)", i, step))
		}
		if st := l.Tiering(); st.ColdSegments >= 3 && st.PendingSegments >= 3 && st.UploadedSegments > st.ColdSegments {
			mixed++
		}
	}
	if mixed < 50 {
		t.Errorf("only %d steps had cold, hot and waiting segments at once: the test does not mix the states enough", mixed)
	}
}

// TestTieringCold: a log with every sealed segment uploaded and cold has
// no local sealed segment, and Oldest is its active segment.
func TestTieringCold(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	n := len(l.Sealed())
	c.uploadFirst(t, l, -1)
	checkTiering(t, l, "uploaded")
	if st := l.Tiering(); st.UploadedSegments != n || st.PendingSegments != 0 || st.ColdSegments != 0 || st.LocalSealedBytes != st.UploadedBytes {
		t.Fatalf("every segment uploaded, none dropped: %+v", st)
	}
	dropFirst(t, l, -1)
	checkTiering(t, l, "dropped")
	if st := l.Tiering(); st.ColdSegments != n || st.LocalSealedBytes != 0 || len(l.LocalSealed()) != 0 {
		t.Fatalf("every segment cold: %+v, %d local sealed", st, len(l.LocalSealed()))
	}
	if _, _, active, ok := l.Oldest(); !ok || !active {
		t.Fatalf("Oldest with every sealed segment cold: active %v, ok %v; want the active segment", active, ok)
	}
	l = reopen(t, l, l.opts)
	checkTiering(t, l, "reopened")
}

// TestNoSegment: MarkUploaded, DropLocal and Discard of a segment that
// Trim, Discard or DropOldest removed meanwhile wrap ErrNoSegment (the
// tier deletes the object it just wrote; Trimmed is not told of it);
// other refusals do not.
func TestNoSegment(t *testing.T) {
	l, c, _ := coldLog(t, 300)
	s := l.Sealed()
	up := func(si SegmentInfo) Upload { return Upload{Size: si.Size, At: 1} }

	if _, _, err := l.Trim(0, l.Size()-s[0].Size); err != nil { // the first segment goes
		t.Fatal(err)
	}
	if _, _, err := l.Discard(s[2].Base); err != nil {
		t.Fatal(err)
	}
	for _, si := range []SegmentInfo{s[0], s[2]} {
		if err := l.MarkUploaded(si.Base, up(si)); !errors.Is(err, ErrNoSegment) {
			t.Errorf("MarkUploaded of segment %d removed during the upload: %v; want ErrNoSegment", si.Base, err)
		}
		if err := l.DropLocal(si.Base); !errors.Is(err, ErrNoSegment) {
			t.Errorf("DropLocal of segment %d removed: %v; want ErrNoSegment", si.Base, err)
		}
		if _, _, err := l.Discard(si.Base); !errors.Is(err, ErrNoSegment) {
			t.Errorf("Discard of segment %d removed: %v; want ErrNoSegment", si.Base, err)
		}
		if _, ok := l.SealedSegment(si.Base); ok {
			t.Errorf("SealedSegment(%d) found a removed segment", si.Base)
		}
	}
	if got := c.trimmedBases(); len(got) != 0 {
		t.Errorf("Trimmed told of %v, segments never uploaded", got)
	}

	// The disk floor deletes the oldest segment not uploaded.
	oldest := l.LocalSealed()[0]
	if _, _, err := l.DropOldest(); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkUploaded(oldest.Base, up(oldest)); !errors.Is(err, ErrNoSegment) {
		t.Errorf("MarkUploaded of segment %d dropped by the disk floor: %v; want ErrNoSegment", oldest.Base, err)
	}

	// Refusals of a segment that is there are no ErrNoSegment.
	si := l.LocalSealed()[0]
	if err := l.MarkUploaded(si.Base, Upload{Size: si.Size + 1}); err == nil || errors.Is(err, ErrNoSegment) {
		t.Errorf("MarkUploaded with a wrong size: %v; want an error, not ErrNoSegment", err)
	}
	if err := l.DropLocal(si.Base); err == nil || errors.Is(err, ErrNoSegment) {
		t.Errorf("DropLocal of a segment not uploaded: %v; want an error, not ErrNoSegment", err)
	}
	active := l.segs[len(l.segs)-1].base
	if err := l.MarkUploaded(active, Upload{Size: 100}); err == nil || errors.Is(err, ErrNoSegment) {
		t.Errorf("MarkUploaded of the active segment: %v; want an error, not ErrNoSegment", err)
	}
	checkTiering(t, l, "end")
}

// syntheticLog is a log in memory only: cold cold segments, then local
// sealed ones, then the active one (64 MiB each, the default size).
func syntheticLog(cold, local int) *Log {
	l := &Log{dir: "/data/streams/abc/shardId-000000000000"}
	for i := range cold + local + 1 {
		base := uint64(i)*1000 + 1
		s := &segment{base: base, next: base + 1000, size: 64 << 20, firstTime: int64(i), lastTime: int64(i) + 1,
			sealed: i < cold+local, path: segmentPath(l.dir, base), local: i >= cold}
		if i < cold {
			s.up = &Upload{Size: s.size}
		}
		l.segs = append(l.segs, s)
	}
	l.recount()
	return l
}

// TestSyntheticLog checks the benchmark's log.
func TestSyntheticLog(t *testing.T) {
	l := syntheticLog(1000, 16)
	if got := l.LocalSealed(); len(got) != 16 || got[0].Base != 1000*1000+1 {
		t.Fatalf("LocalSealed: %d segments", len(got))
	}
	if st := l.Tiering(); st.ColdSegments != 1000 || st.PendingSegments != 16 {
		t.Fatalf("Tiering: %+v", st)
	}
	if newest, _, active, ok := l.Oldest(); !ok || active || newest != 1001 {
		t.Fatalf("Oldest: %d, %v, %v", newest, active, ok)
	}
}

// BenchmarkLocalSealed shows that what the tier polls every second per log
// (LocalSealed, Tiering) and the disk floor's Oldest cost the same with
// 1000 and with 1 000 000 cold segments before 16 local ones (1.17 M
// segments is ten years of 64 MiB segments at 2 Mbit/s); Sealed, for
// comparison, walks them all.
func BenchmarkLocalSealed(b *testing.B) {
	for _, cold := range []int{1000, 1_000_000} {
		l := syntheticLog(cold, 16)
		b.Run(fmt.Sprintf("cold=%d/LocalSealed", cold), func(b *testing.B) {
			for b.Loop() {
				if len(l.LocalSealed()) != 16 {
					b.Fatal("wrong count")
				}
			}
		})
		b.Run(fmt.Sprintf("cold=%d/Tiering+Oldest+LocalSize", cold), func(b *testing.B) {
			for b.Loop() {
				_ = l.Tiering()
				_, _, _, _ = l.Oldest()
				_ = l.LocalSize()
			}
		})
		b.Run(fmt.Sprintf("cold=%d/Sealed", cold), func(b *testing.B) {
			for b.Loop() {
				_ = l.Sealed()
			}
		})
	}
}
