package fragmentstest

import (
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// Cold is a filelog.Cold for the fragments tests: it keeps "uploaded"
// segments as files in a directory of its own, and can be set down, when
// opening and reading them fails like an unreachable object store (errors
// wrapping logstore.ErrUnavailable). The object store is not what these
// tests test; what reads through the logs is.
type Cold struct {
	dir   string
	down  atomic.Bool
	reads atomic.Int64 // ReadAt calls that answered
	delay atomic.Int64 // of each read, ns: a slow store
}

// NewCold returns a Cold over a temporary directory.
func NewCold(t testing.TB) *Cold { return &Cold{dir: t.TempDir()} }

// SetDown makes reads fail (true) or work again (false).
func (c *Cold) SetDown(down bool) { c.down.Store(down) }

// SetDelay makes every read of a cold segment take d more (a slow store).
func (c *Cold) SetDelay(d time.Duration) { c.delay.Store(int64(d)) }

// Reads returns how many reads of cold segments answered.
func (c *Cold) Reads() int64 { return c.reads.Load() }

// Attach implements filelog.Cold.
func (c *Cold) Attach(*filelog.Log) {}

// Detach implements filelog.Cold.
func (c *Cold) Detach(*filelog.Log) {}

// Trimmed implements filelog.Cold.
func (c *Cold) Trimmed(*filelog.Log, []filelog.SegmentInfo) {}

func (c *Cold) object(l *filelog.Log, base uint64) string {
	// One directory for every log: the key holds the log's directory.
	key := strings.NewReplacer(string(filepath.Separator), "_", ":", "_").Replace(l.Dir())
	return filepath.Join(c.dir, fmt.Sprintf("%s-%020d.seg", key, base))
}

// OpenSegment implements filelog.Cold.
func (c *Cold) OpenSegment(l *filelog.Log, base uint64, size int64) (io.ReaderAt, error) {
	if c.down.Load() {
		return nil, fmt.Errorf("test store: open %d: %w", base, logstore.ErrUnavailable)
	}
	p := c.object(l, base)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.Size() != size {
		return nil, fmt.Errorf("test store: object %d has %d bytes, want %d", base, fi.Size(), size)
	}
	return coldReader{c: c, path: p}, nil
}

type coldReader struct {
	c    *Cold
	path string
}

func (r coldReader) ReadAt(p []byte, off int64) (int, error) {
	if r.c.down.Load() {
		return 0, fmt.Errorf("test store: read %s: %w", filepath.Base(r.path), logstore.ErrUnavailable)
	}
	time.Sleep(time.Duration(r.c.delay.Load()))
	f, err := os.Open(r.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r.c.reads.Add(1)
	return f.ReadAt(p, off)
}

// OpenLog is a datastreams.Core OpenLog: filelogs of segBytes segments
// tiered to c.
func (c *Cold) OpenLog(segBytes int64, now func() time.Time) func(dir string) (logstore.Log, error) {
	return func(dir string) (logstore.Log, error) {
		return filelog.Open(dir, filelog.Options{SegmentBytes: segBytes, Now: now, Cold: c})
	}
}

// Tier uploads every sealed segment of l (a filelog of OpenLog) and drops
// its local copy: they are cold. It returns how many it made cold.
func (c *Cold) Tier(t testing.TB, l logstore.Log) int {
	t.Helper()
	fl, ok := l.(*filelog.Log)
	if !ok {
		t.Fatalf("log %T is not a filelog", l)
	}
	n := 0
	for _, si := range fl.Sealed() {
		if !si.Local {
			continue
		}
		b, err := os.ReadFile(si.Path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.object(fl, si.Base), b, 0o644); err != nil {
			t.Fatal(err)
		}
		u := filelog.Upload{Size: int64(len(b)), CRC32C: crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)), At: 1}
		if err := fl.MarkUploaded(si.Base, u); err != nil {
			t.Fatal(err)
		}
		if err := fl.DropLocal(si.Base); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
