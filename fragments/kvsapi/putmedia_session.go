package kvsapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media"
)

// One PutMedia session: the goroutine that reads the upload (putmedia_read.go)
// publishes its clusters; the handler's goroutine owns the response, writing
// the acks the reader, the recorder's Stored hooks and its own timers queue.

// pmSession is one PutMedia upload.
type pmSession struct {
	api      *API
	pm       *PutMedia
	name     string
	log      *slog.Logger
	relative bool
	base     time.Time // producer time of timecode 0
	acks     bool      // BUFFERING, RECEIVED and PERSISTED wanted
	persist  bool      // the stream keeps data: PERSISTED follows RECEIVED

	w  http.ResponseWriter
	rc *http.ResponseController

	lastData atomic.Int64 // Unix ns of the last upload bytes read

	mu       sync.Mutex
	queue    []Ack
	written  bool // the 200 and acks have started
	inflight map[*pmFragment]struct{}
	signal   chan struct{} // an ack is queued (capacity 1)
	room     chan struct{} // in-flight clusters (capacity MaxInFlight)
	units    chan struct{} // their access units (capacity: half the hub's queue)
	stop     chan struct{} // closed when the session stops reading
	stopOnce sync.Once
	stopWhy  error // why the handler stopped it (nil: the upload ended)

	hub *media.Hub
}

// hubQueue is the queue of a reader of the registry's hubs (media.Hub's
// default when unset).
func hubQueue(r *media.Registry) int {
	if r.QueueSize > 0 {
		return r.QueueSize
	}
	return 1024
}

// reserve takes room for a cluster of n units in flight, waiting while
// the recorder has not stored the earlier ones (the upload is not read
// meanwhile: TCP pushes back on the producer); false when the session
// stopped first.
func (s *pmSession) reserve(f *pmFragment, n int) bool {
	select {
	case s.room <- struct{}{}:
	case <-s.stop:
		return false
	}
	f.units = min(n, cap(s.units))
	for i := range f.units {
		select {
		case s.units <- struct{}{}:
		case <-s.stop:
			for range i {
				<-s.units
			}
			<-s.room
			return false
		}
	}
	return true
}

// release frees a cluster's room.
func (s *pmSession) release(f *pmFragment) {
	for range f.units {
		<-s.units
	}
	<-s.room
}

// pmFragment is one published cluster waiting for its fragment to be
// stored.
type pmFragment struct {
	timecode int64 // ms, as sent
	ended    time.Time
	units    int  // its room in s.units
	done     bool // stored, failed or given up (under session mu)
}

func (s *pmSession) enqueue(a Ack) {
	s.mu.Lock()
	s.queue = append(s.queue, a)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *pmSession) ack(typ string, tc int64) {
	if s.acks {
		s.enqueue(Ack{EventType: typ, FragmentTimecode: &tc})
	}
}

func (s *pmSession) fail(e pmError, tc *int64) {
	s.enqueue(Ack{EventType: "ERROR", FragmentTimecode: tc, ErrorID: e.ID, ErrorCode: e.Code})
}

// halt stops the session for why (nil: the upload ended): nothing more
// is published or acknowledged but the fragments in flight, and the
// upload is cut once they are.
func (s *pmSession) halt(why error) {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopWhy = why
		s.mu.Unlock()
		close(s.stop)
	})
}

func (s *pmSession) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// Reasons the handler stops a session.
var (
	errIdle       = errors.New("putmedia: no data for the idle timeout")
	errMaxConn    = errors.New("putmedia: connection duration limit reached")
	errEnded      = errors.New("putmedia: the publication was ended by the server")
	errClientGone = errors.New("putmedia: the client went away")
	errShutdown   = errors.New("putmedia: the server is shutting down")
)

// pmShutdownWait bounds how long a session of a server shutting down
// waits for its fragments in flight to be stored (and PERSISTED).
const pmShutdownWait = 3 * time.Second

// run streams acks while a goroutine reads the upload.
func (s *pmSession) run(w http.ResponseWriter, r *http.Request) {
	pm := s.pm
	s.w, s.rc = w, http.NewResponseController(w)
	// HTTP/1.1 would otherwise read the whole body before the first ack
	// goes out; HTTP/2 is full duplex anyway (and says not supported).
	_ = s.rc.EnableFullDuplex()
	_ = s.rc.SetReadDeadline(time.Time{})
	_ = s.rc.SetWriteDeadline(time.Time{})
	s.signal = make(chan struct{}, 1)
	s.room = make(chan struct{}, pm.MaxInFlight)
	// Never more than a reader's queue: the recorder's cannot overflow
	// (a cluster of more frames is refused).
	q := hubQueue(pm.Registry)
	s.units = make(chan struct{}, min(q, max(64, q/2)))
	s.stop = make(chan struct{})
	s.inflight = map[*pmFragment]struct{}{}
	s.lastData.Store(time.Now().UnixNano())

	done := make(chan error, 1)
	go func() { done <- s.read(r.Body) }()

	tick := time.NewTicker(min(pm.IdleInterval, time.Second))
	defer tick.Stop()
	maxConn := time.NewTimer(pm.MaxConnectionDuration)
	defer maxConn.Stop()
	var ended <-chan struct{} // the hub's, once published
	var stopping <-chan struct{}
	if s.api.stopping != nil {
		stopping = s.api.stopping.Done()
	}
	var shutdownWait <-chan time.Time
	lastIdle := time.Now()
	var readErr error
	reading := true
	// Until the upload ends or the session is stopped, then until the
	// fragments in flight are acknowledged (or given up).
	for reading && !s.stopped() || s.pending() > 0 {
		if ended == nil {
			s.mu.Lock()
			if s.hub != nil {
				ended = s.hub.Ended()
			}
			s.mu.Unlock()
		}
		select {
		case <-s.signal:
		case err := <-done:
			reading, readErr = false, err
			s.halt(nil)
		case <-tick.C:
			now := time.Now()
			idle := now.Sub(time.Unix(0, s.lastData.Load()))
			switch {
			case s.stopped():
			case idle >= pm.IdleTimeout:
				s.log.Info("PutMedia session idle: closing", "idle", idle)
				s.halt(errIdle)
			case idle >= pm.IdleInterval && now.Sub(lastIdle) >= pm.IdleInterval:
				lastIdle = now
				s.enqueue(Ack{EventType: "IDLE"})
			}
			s.expire(now)
		case <-maxConn.C:
			// Its ERROR goes last, after the PERSISTED of what is in
			// flight (below).
			s.halt(errMaxConn)
		case <-ended:
			ended = make(chan struct{}) // once
			if !s.stopped() {
				// A deleted stream ends its publication once its store left
				// the manager, before the delete commits (Describe may
				// still find it).
				_, serr := s.api.Videos.Store(s.name)
				_, derr := s.api.Videos.Describe(s.name)
				if serr != nil || derr != nil && AsError(derr).Code == CodeNotFound {
					s.fail(pmStreamNotActive, nil)
				} else {
					s.fail(pmArchival, nil)
				}
				s.halt(errEnded)
			}
			// Its recording ended with it: what is in flight will not
			// be stored.
			s.giveUp()
		case <-stopping:
			// The server is shutting down: nothing more is read, what
			// is in flight gets a short while to be stored.
			stopping = nil
			s.halt(errShutdown)
			shutdownWait = time.After(pmShutdownWait)
		case <-shutdownWait:
			s.giveUp()
		case <-r.Context().Done():
			s.halt(errClientGone)
			s.giveUp()
		}
		if !s.flush() {
			s.halt(errClientGone)
			s.giveUp()
		}
	}
	switch {
	case reading:
		// Stopped by the server: cut the upload where it is.
		_ = s.rc.SetReadDeadline(time.Now())
		readErr = <-done
	case readErr != nil:
		// The upload was not read to its end: the connection must not
		// read on after the handler (HTTP/1.1 would drain the body and
		// reuse the connection, racing its own background read in full
		// duplex), so it is closed instead.
		_ = s.rc.SetReadDeadline(time.Now())
	}
	s.mu.Lock()
	h := s.hub
	s.mu.Unlock()
	if h != nil {
		pm.Registry.Unpublish(s.name, h)
	}
	s.mu.Lock()
	why := s.stopWhy
	s.mu.Unlock()
	var ref *refusal
	switch {
	case errors.As(readErr, &ref) && !s.written:
		pm.metrics.refused.WithLabelValues(ref.e.Code).Inc()
		noDrain(w, r)
		WriteError(w, ref.e)
		return
	case ref != nil:
		// The answer started (IDLE) before the first cluster's
		// publication was refused: the refusal is an ERROR ack.
		pm.metrics.refused.WithLabelValues(ref.e.Code).Inc()
		if ref.e.Code == CodeNotFound {
			s.fail(pmStreamNotActive, nil)
		} else {
			s.fail(pmInternal, nil) // another producer has the stream: retry later
		}
	case why == errMaxConn:
		// After the PERSISTED of the clusters in flight, so that the
		// producer resends none of them on its next connection.
		s.fail(pmMaxConnection, nil)
	case why == errShutdown:
		// After the PERSISTED of what was stored: the producer
		// reconnects (INTERNAL_ERROR is one to retry) and sends again
		// what was not acknowledged.
		s.fail(pmInternal, nil)
	}
	s.flush()
	switch {
	case why != nil:
		s.log.Info("PutMedia session stopped", "reason", why)
	case readErr != nil:
		s.log.Info("PutMedia session ended by an error", "err", readErr)
	default:
		s.log.Info("PutMedia session ended")
	}
}

// pending returns how many published fragments wait to be stored.
func (s *pmSession) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}

// expire gives up the fragments that waited longer than PersistTimeout
// to be stored (their recorder went away): ARCHIVAL_ERROR.
func (s *pmSession) expire(now time.Time) {
	s.mu.Lock()
	var late []*pmFragment
	for f := range s.inflight {
		if now.Sub(f.ended) > s.pm.PersistTimeout {
			late = append(late, f)
		}
	}
	s.mu.Unlock()
	for _, f := range late {
		s.stored(f, 0, errors.New("not stored in time"))
	}
}

// giveUp ends the wait for every fragment in flight: the client left.
func (s *pmSession) giveUp() {
	s.mu.Lock()
	for f := range s.inflight {
		f.done = true
		delete(s.inflight, f)
		s.release(f)
	}
	s.mu.Unlock()
}

// flush writes the queued acks (the 200 first); false when the client
// cannot be written to.
func (s *pmSession) flush() bool {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	if len(q) == 0 {
		return true
	}
	if !s.written {
		s.written = true
		s.pm.metrics.sessions.Inc()
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
	for i := range q {
		a := &q[i]
		s.pm.metrics.acks.WithLabelValues(a.EventType).Inc()
		if a.EventType == "ERROR" {
			s.pm.metrics.errors.WithLabelValues(a.ErrorCode).Inc()
		}
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(pmWriteTimeout))
	// One ack per write and flush: each goes out in its own chunk (the
	// embedded producer SDK parses one ack per chunk).
	for i := range q {
		if _, err := s.w.Write(q[i].marshal()); err != nil {
			return false
		}
		if err := s.rc.Flush(); err != nil {
			return false
		}
	}
	return true
}

// stored is a fragment's Stored hook (the recorder's goroutine, or expire).
// Its ack is queued in the same locked section that takes it out of
// flight: the handler, which ends once nothing is in flight, finds it
// queued for its last flush.
func (s *pmSession) stored(f *pmFragment, seq uint64, err error) {
	tc := f.timecode
	var a *Ack
	switch {
	case errors.Is(err, fragments.ErrInvalidFragment):
		// The store's rules refused it: sending it again cannot help.
		a = &Ack{EventType: "ERROR", FragmentTimecode: &tc, ErrorID: pmInvalidMKV.ID, ErrorCode: pmInvalidMKV.Code}
	case err != nil:
		a = &Ack{EventType: "ERROR", FragmentTimecode: &tc, ErrorID: pmArchival.ID, ErrorCode: pmArchival.Code}
	case s.acks:
		a = &Ack{EventType: "PERSISTED", FragmentTimecode: &tc, FragmentNumber: fragments.FragmentNumber(seq)}
	}
	s.mu.Lock()
	if f.done {
		s.mu.Unlock()
		return
	}
	f.done = true
	if a != nil {
		s.queue = append(s.queue, *a)
	}
	delete(s.inflight, f)
	s.mu.Unlock()
	s.release(f)
	select {
	case s.signal <- struct{}{}:
	default:
	}
	if err != nil {
		s.log.Warn("PutMedia fragment not stored", "timecode", tc, "err", err)
		return
	}
	s.pm.metrics.persist.Observe(time.Since(f.ended).Seconds())
}

// errPublishRefused wraps an HTTP-level refusal found once the upload's
// tracks are known (its first Cluster): another producer took the name,
// or the stream is gone.
var errPublishRefused = errors.New("putmedia: publication refused")

type refusal struct{ e *Error }

func (r *refusal) Error() string { return r.e.Error() }
func (r *refusal) Unwrap() []error {
	return []error{errPublishRefused, r.e}
}

// read reads the upload until it ends, a fatal error, or a halt.
func (s *pmSession) read(body io.Reader) error {
	rd := newPMReader(s, body)
	return rd.run()
}
