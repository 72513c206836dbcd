package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/putmedia"
)

// pmProducer is one PutMedia producer of the bench (the Producer of
// `eddy putmedia`, looping the clip in real time) and what became of the
// Clusters it wrote, as timed on the wire (putmedia_wire.go).
type pmProducer struct {
	name    string
	clip    string
	unknown bool // Clusters of unknown size

	mu        sync.Mutex
	conn      int                  // the current PutMedia connection (request) number, from 1
	clusters  []*pmCluster         // in the order started
	byKey     map[pmKey]*pmCluster // by connection and FragmentTimecode (ms)
	byTC      map[int64]*pmCluster // the last Cluster written with a FragmentTimecode
	unmatched []string             // acks with no Cluster of theirs on their connection
	resent    []int64              // Clusters written again on a new connection (their timecodes)
	warnings  []string             // the producer's WARN and ERROR log records, and Run's errors
	nPersist  int
}

// pmKey names a Cluster: the acks of a connection are about the Clusters
// written on it, by FragmentTimecode.
type pmKey struct {
	conn int
	tc   int64
}

// pmCluster is one Cluster written and its acks.
type pmCluster struct {
	conn    int
	tc      int64 // FragmentTimecode (ms)
	hasTC   bool
	unknown bool // of unknown size
	first   time.Time
	// last is when its last byte was read by the transport; end when the
	// server could know it had ended: last for a Cluster of known size,
	// the first byte of the next Cluster for one of unknown size (zero:
	// not ended yet).
	last, end time.Time
	received  time.Time // RECEIVED ack (zero: none)
	persisted time.Time // PERSISTED ack (zero: none)
	number    string    // FragmentNumber of the PERSISTED ack
	errAck    string    // ERROR ack: "ErrorId ErrorCode"
	early     []string  // RECEIVED/PERSISTED acks that came before the Cluster had ended
	resent    bool      // written again on a new connection: that entry counts
}

// loadProducers makes one producer per stream, prefix-NNN.
func loadProducers(prefix, clip string, n int, unknown bool) []*pmProducer {
	var prods []*pmProducer
	for i := range n {
		prods = append(prods, newPMProducer(fmt.Sprintf("%s-%03d", prefix, i), clip, unknown))
	}
	return prods
}

func newPMProducer(name, clip string, unknown bool) *pmProducer {
	return &pmProducer{name: name, clip: clip, unknown: unknown, byKey: map[pmKey]*pmCluster{}, byTC: map[int64]*pmCluster{}}
}

// producer is the producer of one Run: the clip, looped in real time,
// with ABSOLUTE timecodes, its unacknowledged Clusters kept in memory,
// requests unsigned (the started server has no credentials), its
// PutMedia request bodies timed on the wire.
func (p *pmProducer) producer(url string) *putmedia.Producer {
	return &putmedia.Producer{
		Endpoint: url, Stream: p.name, Source: p.clip, Loop: true, TimecodeType: putmedia.TimecodeAbsolute,
		UnknownSizeClusters: p.unknown,
		HTTPClient:          &http.Client{Transport: pmTransport{base: http.DefaultTransport.(*http.Transport).Clone(), p: p}},
		OnAck:               func(a putmedia.Ack) { p.ack(a, time.Now()) },
		Logger:              slog.New(pmWarnHandler{p}),
	}
}

// newConnection numbers a new PutMedia request. The producer starts it
// only after the acks of the previous one have all been read, so every
// ack read from now on is of this connection.
func (p *pmProducer) newConnection() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn++
	return p.conn
}

// clusterStarted records Cluster c, whose Timestamp tc (ms) has just been
// read on its connection.
func (p *pmProducer) clusterStarted(c *pmCluster, tc int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.tc, c.hasTC = tc, true
	if old := p.byTC[tc]; old != nil && old.conn != c.conn {
		old.resent = true
		p.resent = append(p.resent, tc)
	}
	p.clusters = append(p.clusters, c)
	p.byKey[pmKey{c.conn, tc}] = c
	p.byTC[tc] = c
}

// clusterEnded records when Cluster c's last byte was read and when the
// server could know it had ended.
func (p *pmProducer) clusterEnded(c *pmCluster, last, end time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.last, c.end = last, end
}

// ack records an ack that arrived at t (the producer's OnAck): it is about
// the Cluster of its FragmentTimecode written on the current connection.
// An ack with no such Cluster, or a RECEIVED or PERSISTED ack before the
// Cluster had ended, is not a latency: it is kept as a problem.
func (p *pmProducer) ack(a putmedia.Ack, t time.Time) {
	if a.EventType == putmedia.EventIdle || a.EventType == putmedia.EventBuffering {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var c *pmCluster
	if a.FragmentTimecode != nil {
		c = p.byKey[pmKey{p.conn, *a.FragmentTimecode}]
	}
	if c == nil {
		p.unmatched = append(p.unmatched, fmt.Sprintf("%s %s on connection %d with no Cluster of that timecode written on it",
			t.Format("15:04:05.000"), describeAck(a), p.conn))
		return
	}
	switch a.EventType {
	case putmedia.EventReceived, putmedia.EventPersisted:
		if c.end.IsZero() || t.Before(c.end) {
			c.early = append(c.early, fmt.Sprintf("%s %s before the Cluster had ended", t.Format("15:04:05.000"), describeAck(a)))
			return
		}
	}
	switch a.EventType {
	case putmedia.EventReceived:
		if c.received.IsZero() {
			c.received = t
		}
	case putmedia.EventPersisted:
		if c.persisted.IsZero() {
			c.persisted, c.number = t, a.FragmentNumber
			p.nPersist++
		}
	case putmedia.EventError:
		if c.errAck == "" {
			c.errAck = fmt.Sprintf("%d %s", a.ErrorID, a.ErrorCode)
		}
	}
}

// describeAck is an ack as the report names it.
func describeAck(a putmedia.Ack) string {
	s := a.EventType
	if a.FragmentTimecode != nil {
		s += fmt.Sprintf(" (timecode %d)", *a.FragmentTimecode)
	} else {
		s += " (no timecode)"
	}
	if a.EventType == putmedia.EventError {
		s += fmt.Sprintf(" %d %s", a.ErrorID, a.ErrorCode)
	}
	return s
}

// ackedAfter reports whether a Cluster written after t has had its
// PERSISTED or ERROR ack.
func (p *pmProducer) ackedAfter(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.clusters) - 1; i >= 0; i-- {
		c := p.clusters[i]
		if c.end.IsZero() {
			continue
		}
		if !c.end.After(t) {
			return false
		}
		if !c.persisted.IsZero() || c.errAck != "" {
			return true
		}
	}
	return false
}

func (p *pmProducer) persistedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nPersist
}

func (p *pmProducer) warn(msg string) {
	p.mu.Lock()
	p.warnings = append(p.warnings, time.Now().Format("15:04:05.000")+" "+msg)
	p.mu.Unlock()
}

// window is the account of the Clusters that ended in [from, to] (as the
// server could know it: see pmCluster.end): the stream's line of the
// report, and the latencies from that end to the PERSISTED and to the
// RECEIVED ack, and from the Cluster's last byte to PERSISTED. listed
// holds the fragment numbers ListFragments shows for the stream.
func (p *pmProducer) window(from, to time.Time, listed map[string]bool) (st pmStream, persisted []pmWait, received, fromLast []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st = pmStream{Name: p.name, Warnings: append([]string(nil), p.warnings...), Resent: len(p.resent),
		Unmatched: append([]string(nil), p.unmatched...)}
	for _, c := range p.clusters {
		if c.resent || c.end.IsZero() || c.end.Before(from) || c.end.After(to) {
			continue
		}
		st.Clusters++
		st.Early = append(st.Early, c.early...)
		if !c.received.IsZero() {
			received = append(received, c.received.Sub(c.end))
		}
		switch {
		case !c.persisted.IsZero():
			st.Persisted++
			persisted = append(persisted, pmWait{c.end, c.persisted.Sub(c.end)})
			fromLast = append(fromLast, c.persisted.Sub(c.last))
			if listed != nil && !listed[c.number] {
				st.Unlisted++
			}
		case c.errAck != "":
			st.ErrorAcks = append(st.ErrorAcks, c.errAck)
		default:
			st.Unacked++
		}
	}
	if len(persisted) > 0 {
		_, st.PersistP99MS, st.PersistMaxMS = msQuantiles(waitDurations(persisted))
	}
	return st, persisted, received, fromLast
}

// pmWait is the wait for one ack: from the Cluster's write, for d.
type pmWait struct {
	from time.Time
	d    time.Duration
}

func waitDurations(ws []pmWait) []time.Duration {
	ds := make([]time.Duration, len(ws))
	for i, w := range ws {
		ds[i] = w.d
	}
	return ds
}

// overlaps reports whether the wait overlaps one of the stalls (each
// ending at its at, lasting its d).
func (w pmWait) overlaps(stalls []stall) bool {
	for _, s := range stalls {
		if s.at.After(w.from) && s.at.Add(-s.d).Before(w.from.Add(w.d)) {
			return true
		}
	}
	return false
}

// pmWarnHandler keeps a producer's WARN and ERROR log records (a
// reconnect, a dropped fragment) as its warnings.
type pmWarnHandler struct{ p *pmProducer }

func (h pmWarnHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h pmWarnHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h pmWarnHandler) WithGroup(string) slog.Handler                { return h }
func (h pmWarnHandler) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "component" && a.Key != "stream" {
			msg += " " + a.String()
		}
		return true
	})
	h.p.warn(msg)
	return nil
}

// run sends until ctx ends, starting after delay. The producer
// reconnects on its own; should Run end anyway (a refused request), it
// starts again a second later, the error counted.
func (p *pmProducer) run(ctx context.Context, url string, delay time.Duration, log func(string, ...any)) {
	if sleepCtx(ctx, delay) != nil {
		return
	}
	for {
		err := p.producer(url).Run(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("producer ended")
		}
		p.warn("Run: " + err.Error())
		log("producer %s: %v (starting again in 1s)", p.name, err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
}
