package kvsapi

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/awsauth"
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
	pmMaxTracks    = 3
	pmProtocol     = "putmedia"
	pmWriteTimeout = 30 * time.Second
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
	return Errorf(CodeConnectionLimit, "The stream %s already has a producer (PutMedia, RTSP or WHIP): Kinesis Video allows one PutMedia connection per stream.", name)
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

// String describes an ack for logs and tests.
func (a Ack) String() string { return strings.TrimSpace(string(a.marshal())) }
