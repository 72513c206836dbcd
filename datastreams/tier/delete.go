package tier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// Where the tier keeps its own files in the data directory.
const (
	tierDir     = "tier"
	journalDir  = "deleting" // tier/deleting/<dir id>: a stream directory being deleted
	streamsDir  = "streams"
	listPage    = 1000
	lastRune    = "\U0010FFFF" // sorts after every key that shares what precedes it
	idxSuffix   = ".idx"
	segSuffix   = ".seg"
	baseDigits  = 20
	journalPerm = 0o644
)

// journalPath is the journal entry of a stream directory (rel).
func (t *Tier) journalPath(rel string) string {
	return filepath.Join(t.cfg.Root, tierDir, journalDir, filepath.Base(filepath.FromSlash(rel)))
}

// DeletingDir journals that a stream directory is about to be deleted
// (the core's BeforeDeleteDir); an error fails the delete. From now on
// nothing more of it is uploaded.
func (t *Tier) DeletingDir(dir string) error {
	rel, ok := t.rel(dir)
	if _, isStream := streamDirOf(rel); !ok || !isStream || strings.Count(rel, "/") != 1 {
		return fmt.Errorf("tier: %s is not a stream directory of %s", dir, t.cfg.Root)
	}
	p := t.journalPath(rel)
	if _, err := os.Stat(filepath.Dir(p)); errors.Is(err, fs.ErrNotExist) {
		// The journal's directories are made durable before its first entry.
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		for _, d := range []string{filepath.Join(t.cfg.Root, tierDir), t.cfg.Root} {
			if err := atomicfile.SyncDir(d); err != nil {
				return err
			}
		}
	}
	if err := atomicfile.WriteFile(p, []byte(rel+"\n"), journalPerm); err != nil {
		return fmt.Errorf("tier: journal the deletion of %s: %w", rel, err)
	}
	t.mu.Lock()
	t.deleting[rel] = true
	t.mu.Unlock()
	return nil
}

// DeletedDir is told whether the deletion happened (the core's
// AfterDeleteDir); if it did, the directory's objects are deleted in the
// background (and after a crash, at the next Start).
func (t *Tier) DeletedDir(dir string, deleted bool) {
	rel, ok := t.rel(dir)
	if !ok {
		return
	}
	if !deleted {
		t.mu.Lock()
		delete(t.deleting, rel)
		t.mu.Unlock()
		if err := os.Remove(t.journalPath(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.log.Warn("removing a stream deletion's journal entry", "dir", rel, "err", err)
		}
		return
	}
	t.mu.Lock()
	t.dirQ = append(t.dirQ, rel)
	t.mu.Unlock()
	signal(t.delKick)
}

// loadJournal queues the stream deletions a stop interrupted.
func (t *Tier) loadJournal() error {
	dir := filepath.Join(t.cfg.Root, tierDir, journalDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			_ = os.Remove(filepath.Join(dir, e.Name()))
			continue
		}
		rel := streamsDir + "/" + e.Name()
		if _, err := keyPath(rel); err != nil {
			t.log.Warn("ignoring a journal entry", "name", e.Name(), "err", err)
			continue
		}
		t.deleting[rel] = true
		t.dirQ = append(t.dirQ, rel)
	}
	return nil
}

// deleter runs the queued deletions when kicked, retrying with backoff.
func (t *Tier) deleter() {
	defer t.wg.Done()
	var b backoff
	var wait <-chan time.Time
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.delKick:
			if wait != nil {
				continue // a retry is already timed
			}
		case <-wait:
			wait = nil
		}
		if err := t.runDeletes(t.ctx); err != nil {
			if t.ctx.Err() != nil {
				return
			}
			b = b.after(t.clock())
			t.log.Warn("deleting objects failed; retrying", "in", b.delay, "err", err)
			wait = time.After(b.delay)
			continue
		}
		b = backoff{}
	}
}

// runDeletes deletes the queued objects (in batches) and the objects of
// the deleted stream directories; what fails stays queued.
func (t *Tier) runDeletes(ctx context.Context) error {
	t.delMu.Lock()
	defer t.delMu.Unlock()
	for {
		t.mu.Lock()
		n := min(len(t.delQ), deleteMax)
		batch := append([]string(nil), t.delQ[:n]...)
		t.mu.Unlock()
		if n == 0 {
			break
		}
		if err := t.deleteKeys(ctx, batch); err != nil {
			return err
		}
		if err := t.removePendingDeletes(batch); err != nil {
			return err
		}
		t.mu.Lock()
		t.delQ = t.delQ[n:]
		if len(t.delQ) == 0 {
			t.delQ = nil
		}
		t.mu.Unlock()
	}
	for {
		t.mu.Lock()
		if len(t.dirQ) == 0 {
			t.mu.Unlock()
			return nil
		}
		rel := t.dirQ[0]
		t.mu.Unlock()
		if err := t.deleteDir(ctx, rel); err != nil {
			return err
		}
		t.mu.Lock()
		t.dirQ = t.dirQ[1:]
		t.mu.Unlock()
	}
}

// deleteKeys deletes objects and forgets their cached blocks.
func (t *Tier) deleteKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if err := t.cfg.Bucket.Delete(ctx, keys); err != nil {
		return err
	}
	for _, k := range keys {
		if t.cfg.Cache != nil {
			t.cfg.Cache.Drop(k)
		}
	}
	t.m.deletedObjects.Add(float64(len(keys)))
	return nil
}

// deleteDir deletes every object of a deleted stream directory (rel)
// once no upload or mirror of it runs, then its journal entry. A
// directory that exists again under streams/ keeps its objects.
func (t *Tier) deleteDir(ctx context.Context, rel string) error {
	for {
		t.mu.Lock()
		busy := false
		for k := range t.inflight {
			if under(k, rel) {
				busy = true
				break
			}
		}
		t.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// A mirror pass that began before the journal is waited for; those
	// after skip the directory (t.deleting). mirrorMu is not held while
	// the objects are deleted (minutes for a long stream): the mirror of
	// the other streams goes on meanwhile.
	t.mirrorMu.Lock()
	t.mirrorMu.Unlock() //nolint:staticcheck // a barrier, not a critical section
	if _, err := os.Lstat(filepath.Join(t.cfg.Root, filepath.FromSlash(rel))); err == nil {
		t.log.Warn("a journaled stream directory exists: its objects are kept", "dir", rel)
	} else {
		if err := t.deletePrefix(ctx, rel+"/"); err != nil {
			return err
		}
		changed := false
		t.manMu.Lock()
		for k := range t.mirrored {
			if under(k, rel) {
				delete(t.mirrored, k)
				changed = true
			}
		}
		t.manMu.Unlock()
		if changed {
			if err := t.saveMirrored(); err != nil {
				return err
			}
		}
		t.log.Info("objects of a deleted stream deleted", "dir", rel)
	}
	if err := os.Remove(t.journalPath(rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	t.mu.Lock()
	delete(t.deleting, rel)
	delete(t.dirMu, rel)
	for d := range t.detached {
		if under(d, rel) {
			delete(t.detached, d)
		}
	}
	t.mu.Unlock()
	return nil
}

// deletePrefix deletes every object under prefix.
func (t *Tier) deletePrefix(ctx context.Context, prefix string) error {
	after := "" // moves on even should a deleted key still be listed
	for {
		objs, more, err := t.cfg.Bucket.List(ctx, prefix, after, listPage)
		if err != nil {
			return err
		}
		// The listing is trusted only under prefix: a store that ignored
		// it must not make one directory's deletion empty another's.
		keys := make([]string, 0, len(objs))
		outside := false
		for _, o := range objs {
			if !strings.HasPrefix(o.Key, prefix) || o.Key <= after {
				outside = true
				break
			}
			keys = append(keys, o.Key)
		}
		if err := t.deleteKeys(ctx, keys); err != nil {
			return err
		}
		if !more || outside || len(keys) == 0 {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

// reconcileDue runs what is left of the start's reconciliation, at most
// once per backoff step unless forced.
func (t *Tier) reconcileDue(ctx context.Context, force bool) error {
	t.mu.Lock()
	due := force || !t.clock().Before(t.recRetry.next)
	t.mu.Unlock()
	if !due {
		return nil
	}
	err := t.reconcile(ctx)
	t.mu.Lock()
	if err != nil && ctx.Err() == nil {
		t.recRetry = t.recRetry.after(t.clock())
	} else if err == nil {
		t.recRetry = backoff{}
	}
	t.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		t.log.Warn("reconciling with object storage failed; retrying", "err", err)
	}
	return err
}

// reconcile aborts unfinished multipart uploads (once no upload of ours
// runs), and deletes the objects that local state no longer has: those
// of segments below each new log's first segment, and those of shard
// directories gone from existing stream directories.
func (t *Tier) reconcile(ctx context.Context) error {
	t.mu.Lock()
	if !t.started {
		t.mu.Unlock()
		return nil
	}
	needAbort, busy, needDirs := t.needAbort, len(t.inflight) > 0, t.needDirs
	t.mu.Unlock()
	if needAbort && !busy {
		if err := t.cfg.Bucket.AbortUploads(ctx, ""); err != nil {
			return fmt.Errorf("abort unfinished uploads: %w", err)
		}
		// The objects of segments discarded before the stop go before
		// any upload (a segment discarded only in the record's intent is
		// still local: its upload then PUTs it again).
		t.mu.Lock()
		replay := t.replay
		t.mu.Unlock()
		// A key whose segment is in its log with an upload record is
		// not deleted: its upload won against the discard (before the
		// claim around discards, a crash could leave both).
		var kept, uploaded []string
		for _, k := range replay {
			if t.recordedUploaded(k) {
				uploaded = append(uploaded, k)
			} else {
				kept = append(kept, k)
			}
		}
		if len(uploaded) > 0 {
			t.log.Warn("pending deletions of uploaded segments dropped", "keys", len(uploaded))
			if err := t.removePendingDeletes(uploaded); err != nil {
				return err
			}
			replay = kept
			t.mu.Lock()
			t.replay = replay
			t.mu.Unlock()
		}
		for len(replay) > 0 {
			n := min(len(replay), deleteMax)
			if err := t.deleteKeys(ctx, replay[:n]); err != nil {
				return fmt.Errorf("delete the objects of discarded segments: %w", err)
			}
			if err := t.removePendingDeletes(replay[:n]); err != nil {
				return err
			}
			replay = replay[n:]
			t.mu.Lock()
			t.replay = replay
			t.mu.Unlock()
		}
		t.mu.Lock()
		t.needAbort = false
		t.mu.Unlock()
	}
	var todo []*logState
	for _, ls := range t.attached() {
		t.mu.Lock()
		if !ls.reconciled {
			todo = append(todo, ls)
		}
		t.mu.Unlock()
	}
	if err := parallel(ctx, len(todo), reconcileWorkers, func(i int) error {
		if err := t.reconcileLog(ctx, todo[i]); err != nil {
			return err
		}
		t.mu.Lock()
		todo[i].reconciled = true
		t.mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	if needDirs {
		if err := t.reconcileStreamDirs(ctx); err != nil {
			return err
		}
		t.mu.Lock()
		t.needDirs = false
		t.mu.Unlock()
	}
	return nil
}

// recordedUploaded reports whether key is a segment's object or index
// whose segment has an upload record (<base>.up) in its log directory.
func (t *Tier) recordedUploaded(key string) bool {
	p, err := keyPath(key)
	if err != nil {
		return false
	}
	base, ok := parseBase(filepath.Base(p))
	if !ok {
		return false
	}
	_, err = os.Stat(filepath.Join(t.cfg.Root, filepath.Dir(p), fmt.Sprintf("%0*d.up", baseDigits, base)))
	return err == nil
}

// parseBase returns the base of a segment's object name (<20 digits>.seg
// or .idx).
func parseBase(name string) (uint64, bool) {
	stem, ok := strings.CutSuffix(name, segSuffix)
	if !ok {
		stem, ok = strings.CutSuffix(name, idxSuffix)
	}
	if !ok || len(stem) != baseDigits {
		return 0, false
	}
	v, err := strconv.ParseUint(stem, 10, 64)
	return v, err == nil
}

// reconcileLog deletes a log's objects below its first segment (left by
// a stop between a trim and the deletion of its objects): they sort
// first, so one listing finds them.
func (t *Tier) reconcileLog(ctx context.Context, ls *logState) error {
	first, _ := ls.l.Bounds()
	prefix := ls.rel + "/"
	after := ""
	for {
		objs, more, err := t.cfg.Bucket.List(ctx, prefix, after, listPage)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		var stale []string
		below := true
		for _, o := range objs {
			name, ok := strings.CutPrefix(o.Key, prefix)
			if !ok || o.Key <= after {
				below = false // a listing that ignores the prefix or goes back: stop
				break
			}
			if t.skipped(o.Key) {
				continue // left out by a restore: its segment may come back
			}
			if b, ok := parseBase(name); ok && !strings.Contains(name, "/") && b < first {
				stale = append(stale, o.Key)
				continue
			}
			below = false
		}
		if len(stale) > 0 {
			t.log.Info("deleting objects of trimmed segments", "dir", ls.rel, "objects", len(stale))
			if err := t.deleteKeys(ctx, stale); err != nil {
				return err
			}
		}
		if !more || !below || len(objs) == 0 {
			return nil
		}
		after = objs[len(objs)-1].Key
	}
}

// reconcileStreamDirs deletes the objects of shard directories that no
// longer exist inside stream directories that do (a stream directory
// itself goes only through the journal). The listing hops from one
// entry of the stream directory to the next, a request each.
func (t *Tier) reconcileStreamDirs(ctx context.Context) error {
	ents, err := os.ReadDir(filepath.Join(t.cfg.Root, streamsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, streamsDir+"/"+e.Name())
		}
	}
	return parallel(ctx, len(dirs), reconcileWorkers, func(i int) error { return t.reconcileStreamDir(ctx, dirs[i]) })
}

// reconcileStreamDir is reconcileStreamDirs for one stream directory.
func (t *Tier) reconcileStreamDir(ctx context.Context, rel string) error {
	t.mu.Lock()
	skip := t.deleting[rel]
	t.mu.Unlock()
	if skip {
		return nil
	}
	prefix := rel + "/"
	after := ""
	for {
		objs, _, err := t.cfg.Bucket.List(ctx, prefix, after, 1)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if len(objs) == 0 {
			return nil
		}
		name, ok := strings.CutPrefix(objs[0].Key, prefix)
		if !ok || objs[0].Key <= after {
			return nil // a listing that ignores the prefix or goes back
		}
		child, _, isDir := strings.Cut(name, "/")
		if !isDir {
			after = objs[0].Key
			continue
		}
		after = prefix + child + "/" + lastRune
		if !strings.HasPrefix(child, "shardId-") {
			continue
		}
		local := filepath.Join(t.cfg.Root, filepath.FromSlash(rel), child)
		if _, err := os.Lstat(local); err == nil || !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if t.skippedUnder(prefix + child + "/") {
			// A restore left this shard's objects out: they are kept.
			continue
		}
		t.log.Info("deleting objects of a removed shard directory", "dir", rel+"/"+child)
		if err := t.deletePrefix(ctx, prefix+child+"/"); err != nil {
			return err
		}
	}
}

// reconcileWorkers is how many listings the start's reconciliation has
// in flight (hundreds of logs at a store's round trip each).
const reconcileWorkers = 8

// parallel runs f(0..n-1), width at a time, and returns the first error
// (the others still run).
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, width)
	)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// pendingFile lists (a key a line) the objects of discarded segments not
// yet deleted.
const pendingFile = "pending-deletes"

func (t *Tier) pendingPath() string { return filepath.Join(t.cfg.Root, tierDir, pendingFile) }

// loadPendingDeletes reads tier/pending-deletes (Start): its keys are
// deleted before uploads begin.
func (t *Tier) loadPendingDeletes() error {
	b, err := os.ReadFile(t.pendingPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	t.pdMu.Lock()
	defer t.pdMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	// A last line without its newline is torn (a crash during an
	// append): dropped; the appender starts on a fresh line.
	text := string(b)
	text = text[:strings.LastIndexByte(text, '\n')+1]
	for line := range strings.SplitSeq(text, "\n") {
		p, err := keyPath(line)
		if _, isSeg := parseBase(filepath.Base(p)); err != nil || !isSeg || t.durable[line] {
			continue // empty, not a segment's object (a torn line an append ended), or a repeat
		}
		t.durable[line] = true
		t.replay = append(t.replay, line)
	}
	return nil
}

// addPendingDeletes appends keys to tier/pending-deletes, durably.
func (t *Tier) addPendingDeletes(keys []string) error {
	t.pdMu.Lock()
	defer t.pdMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(t.pendingPath()), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(t.pendingPath(), os.O_RDWR|os.O_APPEND|os.O_CREATE, journalPerm)
	if err != nil {
		return err
	}
	text := strings.Join(keys, "\n") + "\n"
	// After a torn last line (a crash during an append) the keys start
	// on a fresh line, not joined to it.
	if fi, serr := f.Stat(); serr != nil {
		err = serr
	} else if fi.Size() > 0 {
		last := make([]byte, 1)
		if _, rerr := f.ReadAt(last, fi.Size()-1); rerr != nil {
			err = rerr
		} else if last[0] != '\n' {
			text = "\n" + text
		}
	}
	if err == nil {
		_, err = f.WriteString(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	t.mu.Lock()
	for _, k := range keys {
		t.durable[k] = true
	}
	t.mu.Unlock()
	return nil
}

// removePendingDeletes takes keys (deleted, or not to be) out of
// tier/pending-deletes; the file is rewritten only when it held one.
func (t *Tier) removePendingDeletes(keys []string) error {
	t.pdMu.Lock()
	defer t.pdMu.Unlock()
	t.mu.Lock()
	hit := false
	for _, k := range keys {
		if t.durable[k] {
			delete(t.durable, k)
			hit = true
		}
	}
	rest := make([]string, 0, len(t.durable))
	for k := range t.durable {
		rest = append(rest, k)
	}
	t.mu.Unlock()
	if !hit {
		return nil
	}
	if len(rest) == 0 {
		if err := os.Remove(t.pendingPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	slices.Sort(rest)
	return atomicfile.WriteFile(t.pendingPath(), []byte(strings.Join(rest, "\n")+"\n"), journalPerm)
}
