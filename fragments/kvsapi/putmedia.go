package kvsapi

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media"
)

// PutMedia serves POST /putMedia: one long chunked Matroska upload per
// producer session, published live like an RTSP or WHIP one (protocol
// "putmedia") and recorded one fragment per Cluster, with the
// newline-separated JSON acknowledgements of the Kinesis Video PutMedia
// API reference streamed back on the same request while the upload goes
// on (full duplex, HTTP/1.1 or HTTP/2).
//
// Set the fields before the first request; zero limits are Kinesis
// Video's.
type PutMedia struct {
	Registry *media.Registry
	// MaxConnectionDuration ends a session with MAX_CONNECTION_DURATION_REACHED
	// (45 min): producers rotate their connection.
	MaxConnectionDuration time.Duration
	// IdleInterval is how often IDLE is sent while no data arrives (3 s);
	// IdleTimeout closes a session that sent nothing for that long (30 s).
	IdleInterval, IdleTimeout time.Duration
	// MaxFragmentDuration (10 s) and MaxFragmentBytes (50 MB) bound one
	// Cluster (MAX_FRAGMENT_DURATION_REACHED, MAX_FRAGMENT_SIZE_REACHED).
	MaxFragmentDuration time.Duration
	MaxFragmentBytes    int
	// MaxInFlight bounds the clusters published but not yet stored (4),
	// and so do their access units (half a hub reader's queue): beyond,
	// the upload is not read (TCP pushes back on the producer) rather than
	// let the recorder fall a queue behind and lose them.
	MaxInFlight int
	// PersistTimeout is how long a published cluster may wait for its
	// fragment to be stored before it is given up with ARCHIVAL_ERROR (20 s).
	PersistTimeout time.Duration
	Registerer     prometheus.Registerer

	once    sync.Once
	metrics *pmMetrics
}

func (pm *PutMedia) init() {
	pm.once.Do(func() {
		def := func(d *time.Duration, v time.Duration) {
			if *d <= 0 {
				*d = v
			}
		}
		def(&pm.MaxConnectionDuration, 45*time.Minute)
		def(&pm.IdleInterval, 3*time.Second)
		def(&pm.IdleTimeout, 30*time.Second)
		def(&pm.MaxFragmentDuration, 10*time.Second)
		def(&pm.PersistTimeout, 20*time.Second)
		if pm.MaxFragmentBytes <= 0 {
			pm.MaxFragmentBytes = 50_000_000
		}
		if pm.MaxInFlight <= 0 {
			pm.MaxInFlight = 4
		}
		pm.metrics = newPMMetrics(pm.Registerer)
	})
}

// PutMedia's ErrorIds and ErrorCodes (the Kinesis Video PutMedia API
// reference, and the producer SDKs' ack parser).
type pmError struct {
	ID   int
	Code string
}

var (
	pmStreamReadError     = pmError{4000, "STREAM_READ_ERROR"}
	pmMaxFragmentSize     = pmError{4001, "MAX_FRAGMENT_SIZE_REACHED"}
	pmMaxFragmentDuration = pmError{4002, "MAX_FRAGMENT_DURATION_REACHED"}
	pmMaxConnection       = pmError{4003, "MAX_CONNECTION_DURATION_REACHED"}
	pmTimecodeBackwards   = pmError{4004, "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"}
	pmTooManyTracks       = pmError{4005, "MORE_THAN_ALLOWED_TRACKS_FOUND"}
	pmInvalidMKV          = pmError{4006, "INVALID_MKV_DATA"}
	pmInvalidProducerTime = pmError{4007, "INVALID_PRODUCER_TIMESTAMP"}
	pmStreamNotActive     = pmError{4008, "STREAM_NOT_ACTIVE"}
	pmMetadataLimit       = pmError{4009, "FRAGMENT_METADATA_LIMIT_REACHED"}
	pmTrackMismatch       = pmError{4010, "TRACK_NUMBER_MISMATCH"}
	pmFramesMissing       = pmError{4011, "FRAMES_MISSING_FOR_TRACK"}
	pmInternal            = pmError{5000, "INTERNAL_ERROR"}
	pmArchival            = pmError{5001, "ARCHIVAL_ERROR"}
)

// Kinesis Video limits of PutMedia (the Kinesis Video quotas).
const (
	pmMaxTracks       = 3
	pmMaxUserTags     = 10
	pmMaxTagName      = 128
	pmMaxTagValue     = 256
	pmProtocol        = "putmedia"
	pmWriteTimeout    = 30 * time.Second
	CodeConnectionLim = "ConnectionLimitExceededException"
)

// Ack is one PutMedia acknowledgement, as sent: its members in the order
// and case the producer SDKs' parser expects.
type Ack struct {
	EventType        string `json:"EventType"`
	FragmentTimecode *int64 `json:"FragmentTimecode,omitempty"`
	FragmentNumber   string `json:"FragmentNumber,omitempty"`
	ErrorID          int    `json:"ErrorId,omitempty"`
	ErrorCode        string `json:"ErrorCode,omitempty"`
}

func (a *Ack) marshal() []byte {
	b := make([]byte, 0, 160)
	b = append(b, `{"EventType":"`...)
	b = append(b, a.EventType...)
	b = append(b, '"')
	if a.FragmentTimecode != nil {
		b = append(b, `,"FragmentTimecode":`...)
		b = strconv.AppendInt(b, *a.FragmentTimecode, 10)
	}
	if a.FragmentNumber != "" {
		b = append(b, `,"FragmentNumber":"`...)
		b = append(b, a.FragmentNumber...)
		b = append(b, '"')
	}
	if a.ErrorID != 0 {
		b = append(b, `,"ErrorId":`...)
		b = strconv.AppendInt(b, int64(a.ErrorID), 10)
		b = append(b, `,"ErrorCode":"`...)
		b = append(b, a.ErrorCode...)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// producerStartRE is what x-amzn-producer-start-timestamp may hold: Unix
// seconds with an optional decimal fraction. "1234.5" is 1234.5 s (the
// fraction is decimal, not a count of milliseconds: the PutMedia API
// reference documents the header as a timestamp in seconds).
var producerStartRE = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,9})?$`)

func parseProducerStart(v string) (time.Time, bool) {
	if !producerStartRE.MatchString(v) {
		return time.Time{}, false
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	ns := int64(0)
	if frac != "" {
		f, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		ns = f
	}
	return time.Unix(s, ns), true
}

// putMedia answers POST /putMedia.
func (a *API) putMedia(w http.ResponseWriter, r *http.Request) {
	pm := a.PutMedia
	pm.init()
	c, ok := a.Guard.beginStream(w, r, "PutMedia", a.rv)
	if !ok {
		return
	}
	refuse := func(err error) {
		pm.metrics.refused.WithLabelValues(AsError(err).Code).Inc()
		noDrain(w, r)
		c.Fail(w, err)
	}
	var ref StreamRef
	if v := r.Header.Get("x-amzn-stream-name"); v != "" {
		ref.StreamName = &v
	}
	if v := r.Header.Get("x-amzn-stream-arn"); v != "" {
		ref.StreamARN = &v
	}
	if ref.StreamName == nil && ref.StreamARN == nil {
		refuse(Errorf(CodeInvalidArgument, "Either the x-amzn-stream-name or the x-amzn-stream-arn header must be provided."))
		return
	}
	name, err := c.Name(ref)
	if err != nil {
		refuse(err)
		return
	}
	s := &pmSession{api: a, pm: pm, name: name, log: a.Logger.With("component", "putmedia", "stream", name)}
	switch v := r.Header.Get("x-amzn-fragment-timecode-type"); strings.ToUpper(v) {
	case "ABSOLUTE":
	case "RELATIVE":
		s.relative = true
	default:
		refuse(Errorf(CodeInvalidArgument, "x-amzn-fragment-timecode-type %q is invalid: it must be ABSOLUTE or RELATIVE.", v))
		return
	}
	s.base = time.Unix(0, 0)
	if v := r.Header.Get("x-amzn-producer-start-timestamp"); v != "" {
		t, ok := parseProducerStart(v)
		if !ok {
			refuse(Errorf(CodeInvalidArgument, "x-amzn-producer-start-timestamp %q is invalid: it must be Unix seconds, with an optional decimal fraction (1700000000.123).", v))
			return
		}
		if s.relative {
			s.base = t
		}
	} else if s.relative {
		s.base = a.Now() // the upload's start, when the producer did not say
	}
	switch v := r.Header.Get("x-amzn-fragment-acknowledgment-required"); v {
	case "", "1", "true", "TRUE", "True":
		s.acks = true
	case "0", "false", "FALSE", "False":
	default:
		refuse(Errorf(CodeInvalidArgument, "x-amzn-fragment-acknowledgment-required %q is invalid: it must be 1 or 0.", v))
		return
	}
	d, err := a.Videos.Describe(name)
	switch {
	case err == nil:
		s.persist = d.DataRetentionInHours > 0
	case AsError(err).Code == CodeNotFound && a.Videos.AutoCreate:
		s.persist = a.Videos.DefaultRetention() > 0 // created when the publication is admitted
	default:
		refuse(err)
		return
	}
	SetStream(r, name)
	if _, busy := pm.Registry.Hub(name); busy {
		refuse(errBusy(name))
		return
	}
	s.run(w, r)
}

// noDrain answers a refused upload without reading what the producer
// keeps sending: HTTP/1.1 closes the connection after the answer instead
// of draining the body first (which an endless upload never ends).
func noDrain(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
}

func errBusy(name string) error {
	return Errorf(CodeConnectionLim, "The stream %s already has a producer (PutMedia, RTSP or WHIP): Kinesis Video allows one PutMedia connection per stream.", name)
}

// beginStream authenticates a request whose body is a stream: the
// signature covers its headers, with the payload signed as
// UNSIGNED-PAYLOAD or as the empty payload, and the body is left unread.
func (g *Guard) beginStream(w http.ResponseWriter, r *http.Request, op string, rv *Resolver) (*Call, bool) {
	c := &Call{R: r, Action: "kinesisvideo:" + op, guard: g, rv: rv}
	if g == nil || g.Verifier == nil {
		return c, true
	}
	id, f := g.Verifier.Verify(r, "kinesisvideo", nil)
	if f != nil {
		noDrain(w, r)
		g.refuse(w, r, f, awsauth.ClaimedKeyID(r))
		return nil, false
	}
	c.ID = id
	return c, true
}

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
	// metadata events to write once their fragment is stored (handler
	// goroutine only).
	events []pmEvent

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
	start    time.Time // producer time of its first frame
	tags     []mkvTag
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
)

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
	s.units = make(chan struct{}, max(64, hubQueue(pm.Registry)/2))
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
			if !s.stopped() {
				s.fail(pmMaxConnection, nil)
				s.halt(errMaxConn)
			}
		case <-ended:
			ended = make(chan struct{}) // once
			if !s.stopped() {
				if _, err := s.api.Videos.Describe(s.name); err != nil && AsError(err).Code == CodeNotFound {
					s.fail(pmStreamNotActive, nil)
				} else {
					s.fail(pmArchival, nil)
				}
				s.halt(errEnded)
			}
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
	var ref *refusal
	if errors.As(readErr, &ref) && !s.written {
		pm.metrics.refused.WithLabelValues(ref.e.Code).Inc()
		noDrain(w, r)
		WriteError(w, ref.e)
		return
	}
	s.flush()
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

// flush writes the queued acks (the 200 first) and the metadata events of
// stored fragments; false when the client cannot be written to.
func (s *pmSession) flush() bool {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	evs := s.events
	s.events = nil
	s.mu.Unlock()
	for _, ev := range evs {
		s.writeMetadata(ev)
	}
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
func (s *pmSession) stored(f *pmFragment, seq uint64, err error) {
	s.mu.Lock()
	if f.done {
		s.mu.Unlock()
		return
	}
	f.done = true
	delete(s.inflight, f)
	s.mu.Unlock()
	s.release(f)
	tc := f.timecode
	if err != nil {
		s.log.Warn("PutMedia fragment not stored", "timecode", tc, "err", err)
		s.fail(pmArchival, &tc)
		return
	}
	number := fragments.FragmentNumber(seq)
	if s.acks {
		s.enqueue(Ack{EventType: "PERSISTED", FragmentTimecode: &tc, FragmentNumber: number})
	}
	s.pm.metrics.persist.Observe(time.Since(f.ended).Seconds())
	if len(f.tags) > 0 {
		s.mu.Lock()
		s.events = append(s.events, pmEvent{seq: seq, start: f.start, tags: f.tags})
		s.mu.Unlock()
	}
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
	err := rd.run()
	if err != nil && !errors.Is(err, errPublishRefused) && !s.stopped() {
		s.log.Info("PutMedia upload ended", "err", err)
	}
	return err
}

// String describes an ack for logs and tests.
func (a Ack) String() string { return strings.TrimSpace(string(a.marshal())) }
