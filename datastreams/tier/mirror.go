package tier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// stamp is what a mirrored file was when it was uploaded.
type stamp struct {
	Size  int64 `json:"size"`
	MTime int64 `json:"mtime"` // Unix nanoseconds
}

// mirrorFile is the local manifest of mirrored files (key → stamp), so a
// restart uploads only what changed meanwhile.
const (
	mirrorFile = "mirror.json"
	formatFile = "FORMAT"
)

func (t *Tier) mirrorPath() string { return filepath.Join(t.cfg.Root, tierDir, mirrorFile) }

// loadMirrored reads the manifest (missing or damaged: everything is
// uploaded again once).
func (t *Tier) loadMirrored() error {
	b, err := os.ReadFile(t.mirrorPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	m := map[string]stamp{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.log.Warn("the mirror manifest is damaged: mirroring every file again", "path", t.mirrorPath(), "err", err)
		return nil
	}
	t.manMu.Lock()
	t.mirrored = m
	t.manMu.Unlock()
	return nil
}

// saveMirrored writes the manifest atomically (manMu held while it is
// written, so that writes of it never go back in time).
func (t *Tier) saveMirrored() error {
	t.manMu.Lock()
	defer t.manMu.Unlock()
	return writeManifest(t.mirrorPath(), t.mirrored)
}

func writeManifest(path string, m map[string]stamp) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// mirrorer mirrors every stream directory at start and each
// MirrorInterval, and those whose segments were uploaded when kicked.
func (t *Tier) mirrorer() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.MirrorInterval)
	defer tick.Stop()
	if err := t.mirrorAll(t.ctx, false); err != nil && t.ctx.Err() == nil {
		t.log.Warn("mirroring files to object storage failed; retrying later", "err", err)
	}
	for {
		var err error
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			err = t.mirrorAll(t.ctx, false)
		case <-t.mirrorKick:
			t.mu.Lock()
			dirs := make([]string, 0, len(t.dirty))
			for d := range t.dirty {
				dirs = append(dirs, d)
			}
			clear(t.dirty)
			t.mu.Unlock()
			slices.Sort(dirs)
			if err = t.mirror(t.ctx, dirs, false, false); err != nil {
				t.mu.Lock()
				for _, d := range dirs {
					t.dirty[d] = true // the next pass retries them
				}
				t.mu.Unlock()
			}
		}
		if err != nil && t.ctx.Err() == nil {
			t.log.Warn("mirroring files to object storage failed; retrying later", "err", err)
		}
	}
}

// mirrorAll mirrors FORMAT and every stream directory (large: changed
// large files too, however recently they were mirrored).
func (t *Tier) mirrorAll(ctx context.Context, large bool) error {
	ents, err := os.ReadDir(filepath.Join(t.cfg.Root, streamsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, streamsDir+"/"+e.Name())
		}
	}
	return t.mirror(ctx, dirs, true, large)
}

// mirror uploads the changed files of stream directories (rel), and
// FORMAT with all; it deletes the objects of files it uploaded that are
// gone from a directory that exists. A changed file of largeFile bytes or
// more is uploaded only if MirrorLargeEvery passed since its last upload,
// or with large. It returns the first error (the other directories are
// mirrored still).
func (t *Tier) mirror(ctx context.Context, dirs []string, all, large bool) error {
	t.mirrorMu.Lock()
	defer t.mirrorMu.Unlock()
	var firstErr error
	changed := false
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if all {
		c, err := t.mirrorOne(ctx, formatFile, large)
		if !errors.Is(err, fs.ErrNotExist) {
			note(err)
		}
		changed = changed || c
	}
	for _, rel := range dirs {
		c, err := t.mirrorDir(ctx, rel, large)
		note(err)
		changed = changed || c
	}
	if changed {
		note(t.saveMirrored())
	}
	return firstErr
}

// mirrorSkipped reports whether a file is not mirrored: the tier's
// and filelog's own files (segments, their indexes, upload records,
// temporary and quarantined files).
func mirrorSkipped(name string) bool {
	if strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".corrupt") ||
		strings.HasSuffix(name, ".up") || strings.HasSuffix(name, segSuffix) {
		return true
	}
	_, isSegIdx := parseBase(name)
	return isSegIdx
}

// mirrorDir mirrors one stream directory (mirrorMu held).
//
// The walk and the deletes of gone files are the mirrorer's alone: an
// upload PUTs only the small files it needs (mirrorSmall), without
// mirrorMu.
func (t *Tier) mirrorDir(ctx context.Context, rel string, large bool) (bool, error) {
	t.mu.Lock()
	skip := t.deleting[rel]
	t.mu.Unlock()
	if skip {
		return false, nil
	}
	root := filepath.Join(t.cfg.Root, filepath.FromSlash(rel))
	if _, err := os.Lstat(root); err != nil {
		return false, nil // deleted meanwhile: the journal deals with its objects
	}
	// Log directories hold only segments, their indexes and upload
	// records (ten years of them): they are not walked.
	logDirs := map[string]bool{}
	t.mu.Lock()
	for _, ls := range t.logs {
		logDirs[filepath.Join(t.cfg.Root, filepath.FromSlash(ls.rel))] = true
	}
	t.mu.Unlock()
	seen := map[string]bool{}
	changed := false
	var firstErr error
	dm := t.dirLock(rel) // the walk's PUTs, not the deletes after it
	dm.Lock()
	werr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p != root && (slices.Contains(t.cfg.MirrorSkip, d.Name()) || logDirs[p] || strings.HasPrefix(d.Name(), "shardId-")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || mirrorSkipped(d.Name()) {
			return nil
		}
		r, err := filepath.Rel(t.cfg.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(r)
		seen[key] = true
		c, err := t.mirrorOne(ctx, key, large)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
		changed = changed || c
		return ctx.Err()
	})
	dm.Unlock()
	if werr != nil {
		return changed, werr
	}
	if firstErr != nil {
		return changed, firstErr
	}
	// Files mirrored before and gone now (the directory walked whole).
	var gone []string
	t.manMu.Lock()
	for k := range t.mirrored {
		if under(k, rel) && !seen[k] {
			gone = append(gone, k)
		}
	}
	t.manMu.Unlock()
	// Logs closed and removed since (a shard directory that retention
	// removed): their objects go too.
	t.mu.Lock()
	var removed []string
	for d := range t.detached {
		if under(d, rel) {
			if _, err := os.Lstat(filepath.Join(t.cfg.Root, filepath.FromSlash(d))); errors.Is(err, fs.ErrNotExist) {
				removed = append(removed, d)
			}
		}
	}
	t.mu.Unlock()
	for _, d := range removed {
		t.log.Info("deleting objects of a removed log directory", "dir", d)
		if err := t.deletePrefix(ctx, d+"/"); err != nil {
			return changed, err
		}
		t.mu.Lock()
		delete(t.detached, d)
		t.mu.Unlock()
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		if err := t.deleteKeys(ctx, gone); err != nil {
			return changed, err
		}
		t.manMu.Lock()
		for _, k := range gone {
			delete(t.mirrored, k)
		}
		t.manMu.Unlock()
		changed = true
	}
	return changed, nil
}

// largeFile is the size from which a changed file is mirrored at most
// every MirrorLargeEvery (the fragment index grows to megabytes; a
// restored node re-indexes the tail from the log).
const largeFile = 256 << 10

// mirrorOne uploads the file at key (a path under Root) when it changed
// since its last upload; it reports whether it did. The manifest is
// read and updated under manMu, the bucket called without it.
func (t *Tier) mirrorOne(ctx context.Context, key string, large bool) (bool, error) {
	p := filepath.Join(t.cfg.Root, filepath.FromSlash(key))
	fi, err := os.Stat(p)
	if err != nil {
		return false, err
	}
	st := stamp{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	now := t.clock()
	t.manMu.Lock()
	old, ok := t.mirrored[key]
	if ok && old == st {
		t.manMu.Unlock()
		return false, nil
	}
	if st.Size >= largeFile && ok && !large {
		if at, seen := t.largeAt[key]; !seen {
			t.largeAt[key] = now // mirrored before this run: counted from now
			t.manMu.Unlock()
			return false, nil
		} else if now.Sub(at) < t.cfg.MirrorLargeEvery {
			t.manMu.Unlock()
			return false, nil
		}
	}
	t.manMu.Unlock()
	b, err := readMirrored(p)
	if err != nil {
		return false, err
	}
	// Written meanwhile: the stamp is of what was read (its length), so
	// the throttle counts this upload; the next pass sees the file's new
	// stamp and uploads the rest when due.
	st.Size = int64(len(b))
	if err := t.cfg.Bucket.Put(ctx, key, b); err != nil {
		return false, &putError{key, err}
	}
	t.manMu.Lock()
	t.mirrored[key] = st
	if st.Size >= largeFile {
		t.largeAt[key] = now
	}
	t.manMu.Unlock()
	return true, nil
}

// readMirrored reads a file to mirror (a variable: tests grow the file
// while it is read).
var readMirrored = os.ReadFile

// mirrorSmall PUTs the changed small files (under largeFile bytes:
// stream.json, init segments, ...) of the stream directory rel, before a
// segment of it is recorded uploaded, so that a restore finds them. It
// never deletes (the mirrorer does) and does not take mirrorMu (a
// mirror pass or a stream's deletion never stalls an upload); a file it
// cannot read is logged and left to the mirrorer; a failed PUT fails the
// attempt (retried).
func (t *Tier) mirrorSmall(ctx context.Context, rel string) error {
	root := filepath.Join(t.cfg.Root, filepath.FromSlash(rel))
	logDirs := map[string]bool{}
	t.mu.Lock()
	for _, ls := range t.logs {
		logDirs[filepath.Join(t.cfg.Root, filepath.FromSlash(ls.rel))] = true
	}
	t.mu.Unlock()
	changed := false
	dm := t.dirLock(rel)
	dm.Lock()
	defer dm.Unlock()
	werr := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != root || !errors.Is(err, fs.ErrNotExist) {
				t.log.Warn("segment upload: cannot read a stream file to mirror; the mirror retries it", "path", p, "err", err)
			}
			if d != nil && d.IsDir() && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != root && (slices.Contains(t.cfg.MirrorSkip, d.Name()) || logDirs[p] || strings.HasPrefix(d.Name(), "shardId-")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || mirrorSkipped(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() >= largeFile {
			return nil // gone meanwhile, or large: the mirrorer's
		}
		r, err := filepath.Rel(t.cfg.Root, p)
		if err != nil {
			return err
		}
		c, err := t.mirrorOne(ctx, filepath.ToSlash(r), false)
		var perr *putError
		switch {
		case err == nil:
			changed = changed || c
		case errors.As(err, &perr):
			return err // the attempt fails (retried)
		case !errors.Is(err, fs.ErrNotExist):
			t.log.Warn("segment upload: cannot read a stream file to mirror; the mirror retries it", "path", p, "err", err)
		}
		return ctx.Err()
	})
	if changed {
		if err := t.saveMirrored(); err != nil {
			t.log.Warn("saving the mirror manifest failed; the files may be uploaded again", "err", err)
		}
	}
	return werr
}

// dirLock returns the lock of a stream directory's PUTs (the mirror's
// walk of it and an upload's mirrorSmall): one reads and PUTs a file and
// records its stamp at a time, so the manifest never records a stamp
// newer than the object in the bucket.
func (t *Tier) dirLock(rel string) *sync.Mutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.dirMu[rel]
	if !ok {
		m = &sync.Mutex{}
		t.dirMu[rel] = m
	}
	return m
}

// putError is a mirrored file's failed PUT (as opposed to a local error).
type putError struct {
	key string
	err error
}

func (e *putError) Error() string { return fmt.Sprintf("mirror %s: %v", e.key, e.err) }
func (e *putError) Unwrap() error { return e.err }
