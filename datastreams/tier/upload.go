package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// metaCRC is the user-metadata name of a segment object's checksum.
const metaCRC = "crc32c"

// formatCRC and parseCRC are the metadata's form: 8 hex digits.
func formatCRC(c uint32) string { return fmt.Sprintf("%08x", c) }

func parseCRC(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("crc32c %q is not 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("crc32c %q is not 8 hex digits", s)
	}
	return uint32(v), nil
}

// scanner runs a pass each Interval and when kicked.
func (t *Tier) scanner() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		case <-t.kick:
		}
		if err := t.pass(t.ctx, false); err != nil && t.ctx.Err() == nil {
			t.log.Debug("tier pass", "err", err)
		}
	}
}

// worker uploads the segments the scanner hands it.
func (t *Tier) worker() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case j := <-t.jobs:
			_ = t.upload(t.ctx, j.ls, j.seg)
		}
	}
}

// pending is a sealed local segment waiting for upload (and a worker's
// job); gen is its log's upload generation when it was seen.
type pending struct {
	ls  *logState
	seg filelog.SegmentInfo
	gen uint64
}

// scanGap is how long a log is left unscanned after a scan when nothing
// kicked it: Sealed is linear in a log's segments (87600 for ten years
// of 1-hour segments), so a long log is looked at less often (at most a
// minute apart: uploads and the hot policy are never urgent).
func (t *Tier) scanGap(segs int) time.Duration {
	return t.cfg.Interval * time.Duration(min(max(segs/2000, 1), 60))
}

// pass looks at the attached logs due (all with force): reconciles what
// is not yet, applies the hot policy, bounds the upload queue, starts
// uploads (force: every waiting segment now, whatever its backoff, and
// waits for them). It returns the first error.
func (t *Tier) pass(ctx context.Context, force bool) error {
	t.passMu.Lock()
	defer t.passMu.Unlock()
	firstErr := t.reconcileDue(ctx, force)
	now, rnow := t.cfg.Now(), t.clock()
	var queue []pending
	var queued int64
	for _, ls := range t.attached() {
		t.mu.Lock()
		due := force || ls.kicked || !rnow.Before(ls.nextScan)
		ls.kicked = false
		t.mu.Unlock()
		if due {
			t.scan(ls, now, rnow)
		}
		for _, p := range ls.pending {
			queue = append(queue, p)
			queued += p.seg.Size
		}
	}
	sort.SliceStable(queue, func(i, j int) bool { return queue[i].seg.LastTime < queue[j].seg.LastTime })
	queue = t.bound(queue, queued)
	t.gauges(queue, now)

	t.mu.Lock()
	canUpload := !t.needAbort
	t.mu.Unlock()
	if canUpload {
		if err := t.dispatch(ctx, queue, force); firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// scan reads a log's sealed segments (passMu held): drops the local
// copies of uploaded ones past their hot time, and keeps the list of
// those waiting for upload.
func (t *Tier) scan(ls *logState, now, rnow time.Time) {
	t.mu.Lock()
	gen := ls.gen
	t.mu.Unlock()
	hot := t.hotOf(ls.l.Dir())
	segs := ls.l.LocalSealed() // O(local segments), however many are cold
	ls.pending = ls.pending[:0]
	for _, s := range segs {
		if s.Uploaded == nil {
			ls.pending = append(ls.pending, pending{ls, s, gen})
			continue
		}
		if now.Sub(time.Unix(0, s.LastTime)) < hot {
			continue
		}
		if err := ls.l.DropLocal(s.Base); err != nil {
			if _, ok := state(ls.l, s.Base); ok && !errors.Is(err, logstore.ErrClosed) {
				t.log.Warn("dropping the local copy of an uploaded segment", "dir", ls.rel, "base", s.Base, "err", err)
			}
			continue
		}
		t.m.droppedBytes.Add(float64(s.Size))
	}
	ls.nextScan = rnow.Add(t.scanGap(len(segs)))
}

// gauges sets the pending series from the queue.
func (t *Tier) gauges(queue []pending, now time.Time) {
	var bytes int64
	for _, p := range queue {
		bytes += p.seg.Size
	}
	t.m.pendingBytes.Set(float64(bytes))
	t.m.pendingSegments.Set(float64(len(queue)))
	lag := 0.0
	if len(queue) > 0 {
		lag = max(0, now.Sub(time.Unix(0, queue[0].seg.LastTime)).Seconds())
	}
	t.m.uploadLag.Set(lag)
}

// bound discards the oldest waiting segments while more than QueueBytes
// wait (segments being uploaded are spared); it returns those left.
func (t *Tier) bound(queue []pending, queued int64) []pending {
	if t.cfg.QueueBytes <= 0 || queued <= t.cfg.QueueBytes {
		return queue
	}
	kept := queue[:0]
	for _, p := range queue {
		if queued <= t.cfg.QueueBytes {
			kept = append(kept, p)
			continue
		}
		key := segKey(p.ls.rel, p.seg.Base)
		// Claimed like an upload from the journal write to the Discard: no
		// upload records it meanwhile (a crash then would leave a recorded
		// segment whose objects the next start deletes).
		done, mine := t.claim(key)
		if !mine {
			kept = append(kept, p) // being uploaded
			continue
		}
		if cur, ok := state(p.ls.l, p.seg.Base); !ok || cur.Uploaded != nil || !cur.Local {
			t.release(key, done) // uploaded, trimmed or gone since the scan
			queued -= p.seg.Size
			continue
		}
		if t.discard(p, key) {
			queued -= p.seg.Size
		} else {
			kept = append(kept, p)
		}
		t.release(key, done)
	}
	return kept
}

// release ends a claim of key.
func (t *Tier) release(key string, done chan struct{}) {
	t.mu.Lock()
	delete(t.inflight, key)
	t.mu.Unlock()
	close(done)
}

// discard discards a waiting segment the caller claimed (the queue is
// full) and reports whether it did; its keys go to the durable list of
// objects to delete first.
func (t *Tier) discard(p pending, key string) bool {
	// An earlier failed attempt may have PUT its objects: they are
	// deleted, and the keys kept on disk until they are (a discarded
	// segment is a hole, not below the log's first segment, so the
	// start's reconciliation would not find them).
	keys := []string{key, idxKey(p.ls.rel, p.seg.Base)}
	if err := t.addPendingDeletes(keys); err != nil {
		t.log.Error("upload queue full: cannot record the discarded segment's keys; it is kept", "dir", p.ls.rel, "base", p.seg.Base, "err", err)
		return false
	}
	recs, n, err := p.ls.l.Discard(p.seg.Base)
	t.mu.Lock()
	p.ls.kicked = true // its list of waiting segments is stale
	if err == nil {
		t.delQ = append(t.delQ, keys...)
	}
	t.mu.Unlock()
	if err != nil {
		if rerr := t.removePendingDeletes(keys); rerr != nil {
			t.log.Warn("forgetting a pending deletion", "err", rerr)
		}
		if _, ok := state(p.ls.l, p.seg.Base); ok && !errors.Is(err, logstore.ErrClosed) {
			t.log.Error("upload queue full: discarding a segment failed", "dir", p.ls.rel, "base", p.seg.Base, "err", err)
		}
		return false
	}
	t.m.lostBytes.Add(float64(n))
	t.mu.Lock()
	delete(t.retry, key)
	t.mu.Unlock()
	t.log.Error("upload queue full: oldest waiting segment discarded, its records are lost",
		"dir", p.ls.rel, "base", p.seg.Base, "bytes", n, "records", recs, "queue_bytes", t.cfg.QueueBytes)
	signal(t.delKick)
	return true
}

// dispatch starts the uploads of the queue: with force all of them here
// (Uploads at a time) and waits; else those due go to idle workers (a
// segment seen before an upload of its log ended waits for the rescan).
func (t *Tier) dispatch(ctx context.Context, queue []pending, force bool) error {
	if !force {
		now := t.clock()
		for _, p := range queue {
			key := segKey(p.ls.rel, p.seg.Base)
			t.mu.Lock()
			_, busy := t.inflight[key]
			b, waiting := t.retry[key]
			skip := busy || t.blocked(p.ls.rel) || (waiting && now.Before(b.next)) || p.gen != p.ls.gen
			t.mu.Unlock()
			if skip {
				continue
			}
			select {
			case t.jobs <- p:
			default:
				return nil // every worker busy: the next pass goes on
			}
		}
		return nil
	}
	return parallel(ctx, len(queue), t.cfg.Uploads, func(i int) error {
		return t.upload(ctx, queue[i].ls, queue[i].seg)
	})
}

// blocked reports whether rel is inside a stream directory being
// deleted (t.mu held).
func (t *Tier) blocked(rel string) bool {
	if sd, ok := streamDirOf(rel); ok {
		return t.deleting[sd]
	}
	return false
}

// claim marks a segment's upload as running; when one already is, it
// returns the channel closed at its end instead.
func (t *Tier) claim(key string) (done chan struct{}, mine bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ch, ok := t.inflight[key]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	t.inflight[key] = ch
	return ch, true
}

// upload uploads one sealed segment and records it, once at a time per
// segment (a caller finding it running waits for that one).
func (t *Tier) upload(ctx context.Context, ls *logState, seg filelog.SegmentInfo) error {
	key := segKey(ls.rel, seg.Base)
	done, mine := t.claim(key)
	for !mine {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if cur, ok := state(ls.l, seg.Base); !ok || cur.Uploaded != nil || !cur.Local {
			return nil // the other upload did it
		}
		done, mine = t.claim(key)
	}
	t.mu.Lock()
	blocked := t.blocked(ls.rel)
	t.mu.Unlock()
	if cur, ok := state(ls.l, seg.Base); !ok || cur.Uploaded != nil || !cur.Local {
		blocked = true // an upload that ended before this claim did it (or it is gone)
	}
	var err error
	if !blocked {
		err = t.uploadSegment(ctx, ls, seg)
	}
	t.mu.Lock()
	delete(t.inflight, key)
	close(done)
	if err != nil {
		t.retry[key] = t.retry[key].after(t.clock())
	} else {
		delete(t.retry, key)
		ls.gen++
		ls.kicked = true // rescan: the hot policy, and the list of waiting segments
		if sd, ok := streamDirOf(ls.rel); ok && !blocked {
			t.dirty[sd] = true
		}
	}
	t.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			t.m.uploadFailures.Inc()
		}
		return err
	}
	if !blocked {
		signal(t.mirrorKick)
		signal(t.kick) // the hot policy may drop it now
	}
	return nil
}

// state returns the log's current record of the segment at base.
func state(l *filelog.Log, base uint64) (filelog.SegmentInfo, bool) {
	return l.SealedSegment(base)
}

// uploadSegment does one attempt: segment (conditional, verified), its
// index, the stream directory's changed small files, then the record.
func (t *Tier) uploadSegment(ctx context.Context, ls *logState, seg filelog.SegmentInfo) error {
	f, err := os.Open(seg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		if cur, ok := state(ls.l, seg.Base); !ok || cur.Uploaded != nil {
			return nil // trimmed, discarded or done meanwhile: nothing to do
		}
	}
	if err != nil {
		t.log.Error("segment upload: cannot read the segment", "dir", ls.rel, "base", seg.Base, "err", err)
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return err
	}
	sum := h.Sum32()
	sk, ik := segKey(ls.rel, seg.Base), idxKey(ls.rel, seg.Base)
	idx, err := os.ReadFile(seg.IndexPath)
	if errors.Is(err, fs.ErrNotExist) {
		// Without its index a segment is still worth keeping: a restore
		// then rebuilds the index from the object.
		t.log.Warn("segment upload: no sparse index to upload", "dir", ls.rel, "base", seg.Base)
		idx = nil
	} else if err != nil {
		return err
	}
	err = t.cfg.Bucket.PutIfAbsent(ctx, sk, f, size, map[string]string{metaCRC: formatCRC(sum)})
	if errors.Is(err, objstore.ErrExists) {
		err = t.verifyExisting(ctx, sk, size, sum)
		if errors.Is(err, errMismatch) {
			t.log.Error("segment upload: a different object is at its key; the segment stays local",
				"dir", ls.rel, "base", seg.Base, "key", sk, "err", err)
			return err
		}
	}
	if err != nil {
		return t.failed(ls, seg, "segment upload", err)
	}
	// The index only once the segment object is known to be this one: a
	// foreign segment's index is never overwritten.
	if idx != nil {
		if err := t.putIndex(ctx, ik, idx); err != nil {
			return t.failed(ls, seg, "index upload", err)
		}
	}
	// The stream directory's changed small files (stream.json, init
	// segments) are in the bucket before a segment of it is recorded
	// uploaded (PUTs only: deletes and large files are the mirrorer's).
	if sd, ok := streamDirOf(ls.rel); ok {
		if err := t.mirrorSmall(ctx, sd); err != nil {
			return t.failed(ls, seg, "mirroring the stream directory", err)
		}
	}
	u := filelog.Upload{Size: size, CRC32C: sum, At: t.cfg.Now().UnixNano()}
	if err := ls.l.MarkUploaded(seg.Base, u); errors.Is(err, logstore.ErrClosed) {
		return nil // detached: the next start finds the object and accepts it
	} else if err != nil {
		if errors.Is(err, filelog.ErrNoSegment) {
			// Trimmed or discarded during the upload: its objects must
			// not outlive it.
			t.mu.Lock()
			t.delQ = append(t.delQ, sk, ik)
			t.mu.Unlock()
			signal(t.delKick)
			return nil
		} else if cur, ok := state(ls.l, seg.Base); ok && cur.Uploaded != nil {
			return nil
		}
		t.log.Error("segment upload: recording it failed", "dir", ls.rel, "base", seg.Base, "err", err)
		return err
	}
	t.m.uploadedBytes.Add(float64(size))
	t.m.uploadedSegments.Inc()
	return nil
}

// putIndex PUTs a segment's sparse index if absent; an index already at
// the key is accepted when identical, and replaced otherwise (the
// segment object at its key was verified to be this segment, so the
// index of this segment's bytes is the right one).
func (t *Tier) putIndex(ctx context.Context, key string, idx []byte) error {
	err := t.cfg.Bucket.PutIfAbsent(ctx, key, bytes.NewReader(idx), int64(len(idx)), nil)
	if !errors.Is(err, objstore.ErrExists) {
		return err
	}
	old, err := t.cfg.Bucket.Get(ctx, key)
	if err != nil {
		return err
	}
	if bytes.Equal(old, idx) {
		return nil
	}
	t.log.Warn("segment upload: the index at its key differs from the segment's; replacing it", "key", key)
	return t.cfg.Bucket.Put(ctx, key, idx)
}

// errMismatch: the object at a segment's key is not that segment.
var errMismatch = errors.New("object differs from the segment")

// verifyExisting accepts the object at key when it has the size and
// checksum of the segment (an upload whose record a crash lost).
func (t *Tier) verifyExisting(ctx context.Context, key string, size int64, sum uint32) error {
	o, err := t.cfg.Bucket.Head(ctx, key)
	if err != nil {
		return err
	}
	got, cerr := parseCRC(o.Meta[metaCRC])
	if o.Size != size || cerr != nil || got != sum {
		return fmt.Errorf("%w: object %d bytes crc32c %q, segment %d bytes crc32c %s",
			errMismatch, o.Size, o.Meta[metaCRC], size, formatCRC(sum))
	}
	return nil
}

// failed logs a failed attempt (at Warn: it is retried) and returns err.
func (t *Tier) failed(ls *logState, seg filelog.SegmentInfo, what string, err error) error {
	if ctx := t.ctx; ctx.Err() == nil {
		t.log.Warn(what+" failed; retrying with backoff", "dir", ls.rel, "base", seg.Base, "err", err)
	}
	return err
}

// hotOf is how long a log's uploaded segments stay local.
func (t *Tier) hotOf(dir string) time.Duration {
	if t.cfg.HotOf != nil {
		if h, ok := t.cfg.HotOf(dir); ok {
			return h
		}
	}
	return t.cfg.Hot
}
