package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
)

// memBucket is an objstore.Bucket over a map: the seam the tier's logic
// tests use (the end-to-end tests use versitygw).
type memBucket struct {
	mu      sync.Mutex
	objs    map[string]memObject
	down    bool            // every call fails
	fail    map[string]bool // calls of these methods fail
	calls   map[string]int  // by method
	aborted int
}

type memObject struct {
	data []byte
	meta map[string]string
}

var errDown = errors.New("memBucket: down")

func newMemBucket() *memBucket {
	return &memBucket{objs: map[string]memObject{}, calls: map[string]int{}}
}

func (b *memBucket) enter(method string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls[method]++
	if b.down || b.fail[method] {
		return errDown
	}
	return nil
}

func (b *memBucket) setDown(d bool) {
	b.mu.Lock()
	b.down = d
	b.mu.Unlock()
}

func (b *memBucket) setFail(method string, f bool) {
	b.mu.Lock()
	if b.fail == nil {
		b.fail = map[string]bool{}
	}
	b.fail[method] = f
	b.mu.Unlock()
}

func (b *memBucket) count(method string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[method]
}

func (b *memBucket) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.objs))
}

func (b *memBucket) has(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.objs[key]
	return ok
}

func (b *memBucket) PutIfAbsent(_ context.Context, key string, body io.ReaderAt, size int64, meta map[string]string) error {
	if err := b.enter("PutIfAbsent"); err != nil {
		return err
	}
	data := make([]byte, size)
	if _, err := body.ReadAt(data, 0); err != nil && (!errors.Is(err, io.EOF) || size != 0) {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[key]; ok {
		return fmt.Errorf("put %s: %w", key, objstore.ErrExists)
	}
	b.objs[key] = memObject{data: data, meta: maps.Clone(meta)}
	return nil
}

func (b *memBucket) Put(_ context.Context, key string, data []byte) error {
	if err := b.enter("Put"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objs[key] = memObject{data: bytes.Clone(data)}
	return nil
}

func (b *memBucket) Get(_ context.Context, key string) ([]byte, error) {
	if err := b.enter("Get"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, objstore.ErrNotFound)
	}
	return bytes.Clone(o.data), nil
}

func (b *memBucket) GetRange(_ context.Context, key string, off, n int64) ([]byte, error) {
	if err := b.enter("GetRange"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, objstore.ErrNotFound)
	}
	if off >= int64(len(o.data)) {
		return nil, nil
	}
	return bytes.Clone(o.data[off:min(int64(len(o.data)), off+n)]), nil
}

func (b *memBucket) Head(_ context.Context, key string) (objstore.Object, error) {
	if err := b.enter("Head"); err != nil {
		return objstore.Object{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return objstore.Object{}, fmt.Errorf("head %s: %w", key, objstore.ErrNotFound)
	}
	return objstore.Object{Key: key, Size: int64(len(o.data)), Meta: maps.Clone(o.meta)}, nil
}

func (b *memBucket) List(_ context.Context, prefix, startAfter string, limit int) ([]objstore.Object, bool, error) {
	if err := b.enter("List"); err != nil {
		return nil, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []objstore.Object
	for _, k := range slices.Sorted(maps.Keys(b.objs)) {
		if !strings.HasPrefix(k, prefix) || k <= startAfter {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, objstore.Object{Key: k, Size: int64(len(b.objs[k].data))})
	}
	return out, false, nil
}

func (b *memBucket) Delete(_ context.Context, keys []string) error {
	if err := b.enter("Delete"); err != nil {
		return err
	}
	if len(keys) > 1000 {
		return fmt.Errorf("delete: %d keys in one request", len(keys))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		delete(b.objs, k)
	}
	return nil
}

func (b *memBucket) AbortUploads(context.Context, string) error {
	if err := b.enter("AbortUploads"); err != nil {
		return err
	}
	b.mu.Lock()
	b.aborted++
	b.mu.Unlock()
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openLog opens a filelog at <root>/<rel> under tr.
func openLog(t testing.TB, tr filelog.Cold, root, rel string, clock *fakeClock, segBytes int64) *filelog.Log {
	t.Helper()
	l, err := filelog.Open(filepath.Join(root, filepath.FromSlash(rel)), filelog.Options{
		SegmentBytes: segBytes, SegmentDuration: time.Hour, IndexEvery: 256, Now: clock.Now, Cold: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendN appends n records, each at the clock's time, and advances the
// clock by step after each; it returns them.
func appendN(t testing.TB, l *filelog.Log, clock *fakeClock, n int, size int, step time.Duration) []logstore.Record {
	t.Helper()
	_, next := l.Bounds()
	var out []logstore.Record
	for i := range n {
		r := logstore.Record{Seq: next + uint64(i), Time: clock.Now().UnixNano(), Key: []byte("k"),
			Data: bytes.Repeat([]byte{byte(next + uint64(i))}, size)}
		if err := l.Append([]logstore.Record{r}); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(true); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		clock.Add(step)
	}
	return out
}

// readAll reads every record of l from its first.
func readAll(t testing.TB, l *filelog.Log) []logstore.Record {
	t.Helper()
	first, next := l.Bounds()
	var out []logstore.Record
	for seq := first; seq < next; {
		recs, err := l.Read(seq, 1000, 1<<30)
		if err != nil {
			t.Fatalf("read from %d: %v", seq, err)
		}
		if len(recs) == 0 {
			break
		}
		out = append(out, recs...)
		seq = recs[len(recs)-1].Seq + 1
	}
	return out
}

// sameRecords fails unless got and want hold the same records.
func sameRecords(t testing.TB, got, want []logstore.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.Time != w.Time || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("record %d: got seq %d time %d %d bytes, want seq %d time %d %d bytes", i, g.Seq, g.Time, len(g.Data), w.Seq, w.Time, len(w.Data))
		}
	}
}

// newTier returns a started tier over b at root.
func newTier(t testing.TB, b objstore.Bucket, root string, clock *fakeClock, mod func(*Config)) *Tier {
	t.Helper()
	cfg := Config{Bucket: b, Root: root, Now: clock.Now, Interval: time.Hour, MirrorInterval: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// startWait starts tr and waits (up to 10 s) for the start's
// reconciliation and deletions, which run in the background.
func startWait(tr *Tier, ctx context.Context) error {
	if err := tr.Start(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tr.mu.Lock()
		done := !tr.needAbort && !tr.needDirs && len(tr.dirQ) == 0 && len(tr.delQ) == 0 && len(tr.replay) == 0
		for _, ls := range tr.logs {
			done = done && ls.reconciled
		}
		tr.mu.Unlock()
		if done {
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return errors.New("the start's reconciliation did not end within 10 s")
}
