package kdsapi

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/eddy-video/eddy/datastreams"
)

// SubscribeToShard (enhanced fan-out) answers with an AWS event stream
// (application/vnd.amazon.eventstream): an initial-response event first,
// then a SubscribeToShardEvent whenever records arrive (the shard writer
// wakes the subscription on every commit) or, when idle, every
// subscribeKeepAlive. The stream ends after 5 minutes, at the end of a
// closed shard (with ChildShards), or with an exception event when a newer
// subscription for the same consumer and shard takes over.

const (
	subscribeLifetime  = 5 * time.Minute
	subscribeKeepAlive = 5 * time.Second
	subscribeTakeover  = 5 * time.Second
	subscribeMaxBytes  = 2 << 20
)

type subscription struct {
	started time.Time
	done    chan struct{}
	once    sync.Once
	err     error
}

func (sub *subscription) cancel(err error) {
	sub.once.Do(func() {
		sub.err = err
		close(sub.done)
	})
}

// subscriptions are the live SubscribeToShard responses of an API: at
// most one per consumer and shard of a stream. A response ends itself when
// its stream closes (datastreams.Stream.Done) and then leaves the set.
type subscriptions struct {
	mu sync.Mutex
	m  map[subKey]*subscription
}

type subKey struct {
	stream   *datastreams.Stream // one incarnation: a recreated stream is another
	consumer string
	shard    int
}

// add registers a subscription of consumer to shard of s. A subscription
// younger than 5 seconds refuses a newcomer; an older one is ended.
func (r *subscriptions) add(s *datastreams.Stream, consumer, consumerARN string, shard int, now time.Time) (*subscription, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := subKey{s, consumer, shard}
	if old := r.m[key]; old != nil {
		if now.Sub(old.started) < subscribeTakeover {
			return nil, errf(datastreams.KindInUse, "Another active subscription exists for consumer %s on shard %s.", consumerARN, datastreams.ShardID(shard))
		}
		old.cancel(errf(datastreams.KindInUse, "Another active subscription was started for consumer %s on shard %s.", consumerARN, datastreams.ShardID(shard)))
	}
	if r.m == nil {
		r.m = map[subKey]*subscription{}
	}
	sub := &subscription{started: now, done: make(chan struct{})}
	r.m[key] = sub
	return sub, nil
}

func (r *subscriptions) remove(s *datastreams.Stream, consumer string, shard int, sub *subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if key := (subKey{s, consumer, shard}); r.m[key] == sub {
		delete(r.m, key)
	}
}

// endConsumer ends every subscription of a consumer of s.
func (r *subscriptions) endConsumer(s *datastreams.Stream, consumer string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, sub := range r.m {
		if key.stream == s && key.consumer == consumer {
			sub.cancel(err)
			delete(r.m, key)
		}
	}
}

func (a *API) subscribeToShard(w http.ResponseWriter, r *http.Request, cd codec, body []byte) {
	in := new(subscribeIn)
	if len(body) > 0 {
		if err := cd.decode(body, in); err != nil {
			a.writeError(w, cd, errf(datastreams.KindSerialization, "Could not parse request body: %v", err))
			return
		}
	}
	if err := a.authorize(r.Context(), in); err != nil {
		a.fail(w, r, cd, err)
		return
	}
	var v validator
	v.required(in.ConsumerARN != nil, "consumerARN")
	v.required(in.ShardId != nil, "shardId")
	v.required(in.StartingPosition != nil && in.StartingPosition.Type != nil, "startingPosition.type")
	if err := v.err(); err != nil {
		a.writeError(w, cd, err)
		return
	}
	s, c, err := a.consumer(&consumerIn{ConsumerARN: in.ConsumerARN})
	if err != nil {
		a.writeError(w, cd, err)
		return
	}
	setStream(r.Context(), s)
	if c.Status != datastreams.StatusActive {
		a.writeError(w, cd, errf(datastreams.KindInUse, "Consumer %s is not ACTIVE, instead in state %s.", *in.ConsumerARN, c.Status))
		return
	}
	sh, err := a.shardOf(s, in.ShardId, "shardId")
	if err != nil {
		a.writeError(w, cd, err)
		return
	}
	sp := in.StartingPosition
	pos, err := a.position(s, sh, *sp.Type, sp.SequenceNumber, sp.Timestamp)
	if err != nil {
		a.writeError(w, cd, err)
		return
	}
	select {
	case <-s.Done():
		a.writeError(w, cd, a.Core.StreamNotFound(s.Name()))
		return
	default:
	}
	sub, err := a.subs.add(s, c.Name, *in.ConsumerARN, sh.Index, a.Core.Now())
	if err != nil {
		a.metrics.subscribeExceeded.WithLabelValues(a.Core.StreamLabel(s.Name())).Inc()
		a.writeError(w, cd, err)
		return
	}
	defer a.subs.remove(s, c.Name, sh.Index, sub)

	rc := http.NewResponseController(w)
	es := &eventWriter{w: w, rc: rc, cd: cd, enc: eventstream.NewEncoder(), timeout: a.writeTimeout(),
		end: time.Now().Add(subscribeLifetime + subscribeGrace)}
	defer es.done(a.OnReaderCut)
	stopWatch := es.watch(sub.done)
	defer stopWatch()
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	if err := es.event("initial-response", empty{}); err != nil {
		return
	}
	kms := s.Encrypted()
	lifetime := time.NewTimer(subscribeLifetime)
	defer lifetime.Stop()
	keepAlive := time.NewTicker(subscribeKeepAlive)
	defer keepAlive.Stop()
	lastSent := time.Time{}
	for {
		select {
		case <-sub.done: // taken over while records were pending
			if sub.err != nil {
				es.exception(sub.err)
			}
			return
		default:
		}
		changed := sh.Changed()
		res, err := s.Read(sh, pos, maxGetRecords, subscribeMaxBytes, false)
		if err != nil {
			es.exception(err)
			return
		}
		if len(res.Records) > 0 || res.AtEnd || time.Since(lastSent) >= subscribeKeepAlive {
			ev := subscribeEvent{
				log:                        &logRecords{shard: sh.Index, recs: res.Records, kms: kms},
				ContinuationSequenceNumber: datastreams.EncodeSeq(sh.Index, res.Next-1),
				MillisBehindLatest:         res.BehindMillis,
			}
			if res.AtEnd {
				ev.ChildShards = childShardsOf(s, sh)
			}
			if err := es.event("SubscribeToShardEvent", &ev); err != nil {
				return
			}
			a.observeEvent(s, res)
			lastSent = time.Now()
			pos = res.Next
			if res.AtEnd {
				return
			}
			if len(res.Records) > 0 {
				continue
			}
		}
		select {
		case <-changed:
		case <-keepAlive.C:
		case <-sub.done:
			if sub.err != nil {
				es.exception(sub.err)
			}
			return
		case <-s.Done():
			return
		case <-lifetime.C:
			return
		case <-r.Context().Done():
			return
		case <-a.ctx.Done():
			return
		}
	}
}

// eventWriter writes AWS event-stream messages and flushes each one,
// each within the write timeout and none past the subscription's end.
type eventWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	cd      codec
	enc     *eventstream.Encoder
	timeout time.Duration
	end     time.Time // the subscription's lifetime, and a grace to end it
	cut     bool      // a write missed its deadline
	// buf is the JSON payload buffer, reused from event to event: Encode
	// copies the message before it returns.
	buf []byte
	// releaseBy (Unix ns, 0: not yet) is when a subscription taken over
	// or ended must have let go: no write's deadline goes past it.
	releaseBy atomic.Int64
}

// subscribeGrace is how long past its lifetime, or past a takeover, a
// subscription's last writes may take.
const subscribeGrace = time.Second

// writeTimeout is the deadline of one event's write.
func (a *API) writeTimeout() time.Duration {
	if a.WriteTimeout > 0 {
		return a.WriteTimeout
	}
	return 10 * time.Second
}

func (e *eventWriter) send(headers eventstream.Headers, payload any) error {
	b, err := e.encode(payload)
	if err != nil {
		return err
	}
	headers = append(headers, eventstream.Header{Name: ":content-type", Value: eventstream.StringValue(e.cd.contentType())})
	deadline := time.Now().Add(e.timeout)
	if deadline.After(e.end) {
		deadline = e.end
	}
	deadline = e.capToRelease(deadline)
	_ = e.rc.SetWriteDeadline(deadline)
	// watch may have set its deadline in between: keep the earlier one.
	if d := e.capToRelease(deadline); d.Before(deadline) {
		deadline = d
		_ = e.rc.SetWriteDeadline(deadline)
	}
	err = e.enc.Encode(e.w, eventstream.Message{Headers: headers, Payload: b})
	if len(b) > eventBufKeep {
		// The encoder keeps a buffer the size of the largest message it
		// wrote: let go of this one's.
		e.enc = eventstream.NewEncoder()
	}
	if err == nil {
		err = e.rc.Flush()
	}
	if err != nil && !time.Now().Before(deadline) {
		e.cut = true
	}
	return err
}

// eventBufKeep is the largest payload buffer a subscription keeps between
// events, in its own buffer and in its encoder's. An event holds up to
// subscribeMaxBytes of data, base64-encoded (2.8 MiB): the rare large one
// (a catch-up) gets buffers of its own, and a subscription that sent one
// does not hold them for the rest of its 5 minutes.
const eventBufKeep = 256 << 10

// encode marshals an event's payload, into the reused buffer when the
// payload has a hand-written JSON encoder.
func (e *eventWriter) encode(payload any) ([]byte, error) {
	fast, ok := payload.(jsonAppender)
	if !ok || e.cd == codecCBOR { // (codec.encode fills log-backed Records for CBOR)
		return e.cd.encode(payload)
	}
	if hint := fast.jsonSizeHint(); cap(e.buf) < hint {
		e.buf = make([]byte, 0, hint)
	}
	b := fast.appendJSON(e.buf[:0])
	if cap(b) <= eventBufKeep {
		e.buf = b[:0]
	} else {
		e.buf = nil
	}
	return b, nil
}

// capToRelease returns d, or releaseBy when that is earlier.
func (e *eventWriter) capToRelease(d time.Time) time.Time {
	if by := e.releaseBy.Load(); by != 0 && d.After(time.Unix(0, by)) {
		return time.Unix(0, by)
	}
	return d
}

// watch cuts a write blocked on a consumer that stopped reading when the
// subscription is taken over or ended: its last writes get subscribeGrace
// (the exception that tells it why). The returned func stops watching.
func (e *eventWriter) watch(done <-chan struct{}) func() {
	stop, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-done:
			by := time.Now().Add(subscribeGrace)
			e.releaseBy.Store(by.UnixNano())
			_ = e.rc.SetWriteDeadline(by)
		case <-stop:
		}
	}()
	return func() {
		close(stop)
		<-exited
	}
}

// done lifts the deadline of a subscription that ended cleanly, for the
// end of its response, and counts a cut one.
func (e *eventWriter) done(onCut func()) {
	if e.cut {
		if onCut != nil {
			onCut()
		}
		return
	}
	_ = e.rc.SetWriteDeadline(time.Time{})
}

func (e *eventWriter) event(eventType string, payload any) error {
	return e.send(eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("event")},
		{Name: ":event-type", Value: eventstream.StringValue(eventType)},
	}, payload)
}

func (e *eventWriter) exception(err error) {
	code, _, msg := ErrorCode(err)
	_ = e.send(eventstream.Headers{
		{Name: ":message-type", Value: eventstream.StringValue("exception")},
		{Name: ":exception-type", Value: eventstream.StringValue(code)},
	}, errorBody{Type: code, Message: msg})
}
