package putmedia

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// The local buffer keeps every cluster until the server acknowledges it
// PERSISTED. On disk (BufferDir), one directory per session (one upload's
// header: its tracks, timecode type and producer start timestamp):
//
//	BufferDir/s-<unix ns>/session.json    {"stream", "timecodeType", "startMs"}
//	BufferDir/s-<unix ns>/header.mkv      EBML header, Segment, Info, Tracks
//	BufferDir/s-<unix ns>/<seq>_<tc>.mkv  one cluster (its Tags and Cluster);
//	                                      seq: 16 digits, tc: timecode in ms as sent
//
// Each file is written to a temporary name, synced, renamed and the
// directory synced (atomicfile), so after a crash a cluster file is whole
// or absent; a cluster is in the buffer before its first byte is sent. A
// PERSISTED ack removes its file; a session's directory goes when its
// source ended and its last cluster was acknowledged. The next run of the
// producer for the same stream sends the clusters left by earlier runs
// first, each session on a connection of its own.

// session is one upload: a header and the clusters that follow it.
type session struct {
	id       string
	dir      string // "" without BufferDir
	header   []byte
	relative bool
	start    time.Time // producer start timestamp (RELATIVE), ms precision
	pending  []*pending
	done     bool // no cluster will be added
	seq      uint64
}

// pending is one cluster not yet acknowledged PERSISTED.
type pending struct {
	seq      uint64
	timecode int64     // ms, as sent in the Cluster
	at       time.Time // producer timestamp
	data     []byte    // Tags and Cluster; nil when in file (read back to be sent)
	file     string
	size     int
	sent     atomic.Bool // written to a connection (or left by an earlier run)
}

type sessionMeta struct {
	Stream       string `json:"stream"`
	TimecodeType string `json:"timecodeType"`
	StartMs      int64  `json:"startMs"`
}

// buffer holds the sessions of one stream, oldest first. Its mutex guards
// everything below; changed is closed (and replaced) on every change.
type buffer struct {
	dir    string
	stream string
	log    *slog.Logger

	// max bounds the bytes of the clusters kept (0: no bound); beyond it
	// the oldest are dropped and counted in dropped.
	max     int64
	dropped *atomic.Int64

	mu       sync.Mutex
	sessions []*session
	bytes    int64 // of the pending clusters
	changed  chan struct{}
}

// openBuffer loads the sessions earlier runs left in dir for stream.
func openBuffer(dir, stream string, maxBytes int64, dropped *atomic.Int64, log *slog.Logger) (*buffer, error) {
	b := &buffer{dir: dir, stream: stream, max: maxBytes, dropped: dropped, log: log, changed: make(chan struct{})}
	if dir == "" {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("putmedia: buffer: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("putmedia: buffer: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "s-") {
			continue
		}
		s, err := loadSession(filepath.Join(dir, e.Name()), stream)
		if err != nil {
			return nil, fmt.Errorf("putmedia: buffer: %w", err)
		}
		if s == nil {
			continue // another stream's
		}
		if len(s.pending) == 0 {
			_ = os.RemoveAll(s.dir)
			continue
		}
		log.Info("resending clusters buffered by an earlier run", "session", s.id, "clusters", len(s.pending))
		b.sessions = append(b.sessions, s)
		for _, c := range s.pending {
			b.bytes += int64(c.size)
		}
	}
	sort.Slice(b.sessions, func(i, j int) bool { return b.sessions[i].id < b.sessions[j].id })
	b.mu.Lock()
	b.trimLocked()
	b.mu.Unlock()
	return b, nil
}

// loadSession reads a session directory; nil when it is another stream's.
func loadSession(dir, stream string) (*session, error) {
	mb, err := os.ReadFile(filepath.Join(dir, "session.json"))
	if errors.Is(err, os.ErrNotExist) {
		return &session{id: filepath.Base(dir), dir: dir, done: true}, nil // crashed while creating: empty
	}
	if err != nil {
		return nil, err
	}
	var m sessionMeta
	if err := json.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if m.Stream != stream {
		return nil, nil
	}
	s := &session{id: filepath.Base(dir), dir: dir, done: true, relative: m.TimecodeType == TimecodeRelative,
		start: time.UnixMilli(m.StartMs)}
	if s.header, err = os.ReadFile(filepath.Join(dir, "header.mkv")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return s, nil
		}
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		base, ok := strings.CutSuffix(name, ".mkv")
		seqS, tcS, ok2 := strings.Cut(base, "_")
		if !ok || !ok2 {
			continue
		}
		seq, err1 := strconv.ParseUint(seqS, 10, 64)
		tc, err2 := strconv.ParseInt(tcS, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		c := &pending{seq: seq, timecode: tc, file: filepath.Join(dir, name), size: int(info.Size())}
		c.sent.Store(true)
		c.at = s.producerTime(tc)
		s.pending = append(s.pending, c)
		s.seq = max(s.seq, seq+1)
	}
	sort.Slice(s.pending, func(i, j int) bool { return s.pending[i].seq < s.pending[j].seq })
	return s, nil
}

// producerTime is the producer timestamp of a cluster with timecode tc.
func (s *session) producerTime(tc int64) time.Time {
	if s.relative {
		return s.start.Add(time.Duration(tc) * time.Millisecond)
	}
	return time.UnixMilli(tc)
}

// notifyLocked wakes whoever waits for a change.
func (b *buffer) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait returns the channel closed at the next change.
func (b *buffer) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

// newSession starts the session of a new upload (durably, with BufferDir).
func (b *buffer) newSession(header []byte, timecodeType string, start time.Time) (*session, error) {
	now := time.Now()
	s := &session{id: fmt.Sprintf("s-%019d", now.UnixNano()), header: header,
		relative: timecodeType == TimecodeRelative, start: start}
	if b.dir != "" {
		s.dir = filepath.Join(b.dir, s.id)
		if err := os.Mkdir(s.dir, 0o755); err != nil {
			return nil, fmt.Errorf("putmedia: buffer: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(s.dir, "header.mkv"), header, 0o644); err != nil {
			return nil, fmt.Errorf("putmedia: buffer: %w", err)
		}
		mb, _ := json.Marshal(sessionMeta{Stream: b.stream, TimecodeType: timecodeType, StartMs: start.UnixMilli()})
		if err := atomicfile.WriteFile(filepath.Join(s.dir, "session.json"), mb, 0o644); err != nil {
			return nil, fmt.Errorf("putmedia: buffer: %w", err)
		}
		if err := atomicfile.SyncDir(b.dir); err != nil {
			return nil, fmt.Errorf("putmedia: buffer: %w", err)
		}
	}
	b.mu.Lock()
	b.sessions = append(b.sessions, s)
	b.notifyLocked()
	b.mu.Unlock()
	return s, nil
}

// add keeps a cluster of s (durably, with BufferDir) before it is sent.
func (b *buffer) add(s *session, timecode int64, data []byte) error {
	b.mu.Lock()
	c := &pending{seq: s.seq, timecode: timecode, at: s.producerTime(timecode), data: data, size: len(data)}
	s.seq++
	b.mu.Unlock()
	if s.dir != "" {
		c.file = filepath.Join(s.dir, fmt.Sprintf("%016d_%d.mkv", c.seq, timecode))
		if err := atomicfile.WriteFile(c.file, data, 0o644); err != nil {
			return fmt.Errorf("putmedia: buffer: %w", err)
		}
		c.data = nil // on disk only: read back when sent
	}
	b.mu.Lock()
	s.pending = append(s.pending, c)
	b.bytes += int64(c.size)
	b.trimLocked()
	b.notifyLocked()
	b.mu.Unlock()
	return nil
}

// trimLocked drops the oldest clusters while the buffer holds more than
// max bytes (keeping the newest cluster): the server is down or slower
// than the source for longer than the buffer lasts.
func (b *buffer) trimLocked() {
	for b.max > 0 && b.bytes > b.max {
		var s *session
		for _, x := range b.sessions {
			if len(x.pending) > 0 {
				s = x
				break
			}
		}
		if s == nil || s == b.sessions[len(b.sessions)-1] && len(s.pending) == 1 {
			return
		}
		c := s.pending[0]
		s.pending = s.pending[1:]
		b.bytes -= int64(c.size)
		if b.dropped != nil {
			b.dropped.Add(1)
		}
		b.log.Warn("buffer full: dropping the oldest unacknowledged cluster", "timecode", c.timecode,
			"bytes", c.size, "max_bytes", b.max)
		if c.file != "" {
			if err := os.Remove(c.file); err != nil && !errors.Is(err, os.ErrNotExist) {
				b.log.Warn("buffer: removing a dropped cluster", "error", err)
			}
		}
		if s.done && len(s.pending) == 0 {
			b.sessions = slices.DeleteFunc(b.sessions, func(x *session) bool { return x == s })
			if s.dir != "" {
				_ = os.RemoveAll(s.dir)
			}
		}
	}
}

// load returns the bytes of c: kept in memory, or read back from its file.
func (b *buffer) load(c *pending) ([]byte, error) {
	if c.data != nil || c.file == "" {
		return c.data, nil
	}
	data, err := os.ReadFile(c.file)
	if err != nil {
		return nil, fmt.Errorf("putmedia: buffer: %w", err)
	}
	return data, nil
}

// finish marks s complete: its source adds nothing more.
func (b *buffer) finish(s *session) {
	b.mu.Lock()
	s.done = true
	b.notifyLocked()
	b.mu.Unlock()
	b.gc(s)
}

// remove forgets the cluster of s with this timecode (PERSISTED, or
// refused by the server for good). It reports whether it was there.
func (b *buffer) remove(s *session, timecode int64) bool {
	b.mu.Lock()
	var c *pending
	for i, p := range s.pending {
		if p.timecode == timecode {
			c = p
			s.pending = append(s.pending[:i:i], s.pending[i+1:]...)
			b.bytes -= int64(p.size)
			break
		}
	}
	if c != nil {
		b.notifyLocked()
	}
	b.mu.Unlock()
	if c == nil {
		return false
	}
	if c.file != "" {
		if err := os.Remove(c.file); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.log.Warn("buffer: removing an acknowledged cluster", "error", err)
		}
	}
	b.gc(s)
	return true
}

// gc drops a finished session without clusters, and its directory.
func (b *buffer) gc(s *session) {
	b.mu.Lock()
	empty := s.done && len(s.pending) == 0
	if empty {
		for i, x := range b.sessions {
			if x == s {
				b.sessions = append(b.sessions[:i:i], b.sessions[i+1:]...)
				b.notifyLocked()
				break
			}
		}
	}
	b.mu.Unlock()
	if empty && s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			b.log.Warn("buffer: removing a finished session", "error", err)
		}
	}
}

// first returns the oldest session, nil when there is none.
func (b *buffer) first() *session {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.sessions) == 0 {
		return nil
	}
	return b.sessions[0]
}

// next returns the first cluster of s with seq ≥ from, and whether s is
// done (no more will come).
func (b *buffer) next(s *session, from uint64) (*pending, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range s.pending {
		if p.seq >= from {
			return p, s.done
		}
	}
	return nil, s.done
}

// snapshot returns the pending clusters of s.
func (b *buffer) snapshot(s *session) []*pending {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*pending(nil), s.pending...)
}

// Pending returns how many clusters wait for their PERSISTED ack.
func (b *buffer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range b.sessions {
		n += len(s.pending)
	}
	return n
}
