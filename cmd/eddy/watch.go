package main

import (
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// configWatch tells when the configuration file's content changed. It
// watches the file's directory, not the file: editors and configuration
// management replace a file by renaming a new one over it, and
// Kubernetes swaps a symlink next to it, and a watch on the old file
// would see none of that. Any event in the directory makes it read the
// file again once writes have settled; it reports only a new content, so
// that a touch, a chmod or a neighbour's change reloads nothing.
type configWatch struct {
	// C receives when the content changed (at most one pending).
	C <-chan struct{}

	path   string
	w      *fsnotify.Watcher
	log    *slog.Logger
	settle time.Duration
	last   [sha256.Size]byte // the content last reported (or at start)
	c      chan struct{}
	done   chan struct{}
}

// watchConfig starts watching path.
func watchConfig(path string, log *slog.Logger) (*configWatch, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		_ = w.Close()
		return nil, err
	}
	c := make(chan struct{}, 1)
	cw := &configWatch{C: c, path: path, w: w, log: log, settle: 200 * time.Millisecond, c: c, done: make(chan struct{})}
	cw.last = cw.hash()
	go cw.run()
	return cw, nil
}

// Close stops the watch.
func (cw *configWatch) Close() {
	_ = cw.w.Close()
	<-cw.done
}

func (cw *configWatch) run() {
	defer close(cw.done)
	settled := time.NewTimer(time.Hour)
	settled.Stop()
	defer settled.Stop()
	for {
		select {
		case _, ok := <-cw.w.Events:
			if !ok {
				return
			}
			settled.Reset(cw.settle)
		case err, ok := <-cw.w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: read the file again to be sure.
			cw.log.Warn("configuration file watch", "err", err)
			settled.Reset(cw.settle)
		case <-settled.C:
			if h := cw.hash(); h != cw.last {
				cw.last = h
				select {
				case cw.c <- struct{}{}:
				default: // one is pending already
				}
			}
		}
	}
}

// hash is the hash of the file's content; a file that cannot be read
// hashes as empty, so that its disappearance is a change too (the reload
// it triggers is refused and says why).
func (cw *configWatch) hash() [sha256.Size]byte {
	b, err := os.ReadFile(cw.path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(b)
}
