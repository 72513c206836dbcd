package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/putmedia"
)

// pmProducer is one PutMedia producer of the bench (the Producer of
// `eddy putmedia`, looping the clip in real time) and what became of the
// Clusters it wrote.
type pmProducer struct {
	name string
	clip string

	mu       sync.Mutex
	clusters []*pmCluster         // in the order written
	byTC     map[int64]*pmCluster // the last Cluster written with a FragmentTimecode (ms)
	early    map[int64][]pmAck    // acks that came before their OnCluster call
	resent   []int64              // Clusters written again on a new connection (their timecodes)
	warnings []string             // the producer's WARN and ERROR log records, and Run's errors
	nPersist int
}

// pmCluster is one Cluster written and its acks.
type pmCluster struct {
	tc        int64     // FragmentTimecode (ms)
	written   time.Time // its last byte handed to the connection
	received  time.Time // RECEIVED ack (zero: none)
	persisted time.Time // PERSISTED ack (zero: none)
	number    string    // FragmentNumber of the PERSISTED ack
	errAck    string    // ERROR ack: "ErrorId ErrorCode"
	resent    bool      // written again on a new connection: that entry counts
}

// pmAck is an ack and when it arrived.
type pmAck struct {
	putmedia.Ack
	at time.Time
}

// loadProducers makes one producer per stream, b.prefix-NNN. Each reads
// the clip when it starts (in the warm-up).
func (b *putMediaBench) loadProducers() {
	for i := range b.cfg.Streams {
		b.prods = append(b.prods, &pmProducer{name: fmt.Sprintf("%s-%03d", b.prefix, i), clip: b.ib.clip,
			byTC: map[int64]*pmCluster{}, early: map[int64][]pmAck{}})
	}
}

// producer is the producer of one Run: the clip, looped in real time,
// with ABSOLUTE timecodes, its unacknowledged Clusters kept in memory,
// requests unsigned (the started server has no credentials).
func (p *pmProducer) producer(url string) *putmedia.Producer {
	return &putmedia.Producer{
		Endpoint: url, Stream: p.name, Source: p.clip, Loop: true, TimecodeType: putmedia.TimecodeAbsolute,
		OnCluster: p.clusterWritten,
		OnAck:     func(a putmedia.Ack) { p.ack(a, time.Now()) },
		Logger:    slog.New(pmWarnHandler{p}),
	}
}

// clusterWritten records a Cluster whose last byte was handed to the
// connection (the producer's OnCluster).
func (p *pmProducer) clusterWritten(cs putmedia.ClusterSent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.byTC[cs.Timecode]; old != nil && cs.Resent {
		old.resent = true
		p.resent = append(p.resent, cs.Timecode)
	}
	c := &pmCluster{tc: cs.Timecode, written: cs.Sent}
	p.clusters = append(p.clusters, c)
	p.byTC[cs.Timecode] = c
	for _, a := range p.early[cs.Timecode] {
		p.apply(c, a)
	}
	delete(p.early, cs.Timecode)
}

// ack records an ack that arrived at t (the producer's OnAck).
func (p *pmProducer) ack(a putmedia.Ack, t time.Time) {
	if a.EventType == putmedia.EventIdle || a.EventType == putmedia.EventBuffering {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.byTC[a.FragmentTimecode]
	if c == nil || c.written.After(t) {
		// The reader goroutine got the ack before the writer's OnCluster
		// call: keep it for that call.
		p.early[a.FragmentTimecode] = append(p.early[a.FragmentTimecode], pmAck{a, t})
		return
	}
	p.apply(c, pmAck{a, t})
}

// apply records ack a of Cluster c; an ack that arrived before the write
// was noted counts as arriving at once.
func (p *pmProducer) apply(c *pmCluster, a pmAck) {
	at := a.at
	if at.Before(c.written) {
		at = c.written
	}
	switch a.EventType {
	case putmedia.EventReceived:
		if c.received.IsZero() {
			c.received = at
		}
	case putmedia.EventPersisted:
		if c.persisted.IsZero() {
			c.persisted, c.number = at, a.FragmentNumber
			p.nPersist++
		}
	case putmedia.EventError:
		if c.errAck == "" {
			c.errAck = fmt.Sprintf("%d %s", a.ErrorId, a.ErrorCode)
		}
	}
}

// ackedAfter reports whether a Cluster written after t has had its
// PERSISTED or ERROR ack.
func (p *pmProducer) ackedAfter(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.clusters) - 1; i >= 0; i-- {
		c := p.clusters[i]
		if !c.written.After(t) {
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

// window is the account of the Clusters whose last byte was written in
// [from, to]: the stream's line of the report, and the latencies from
// writing to the PERSISTED and to the RECEIVED ack. listed holds the
// fragment numbers ListFragments shows for the stream.
func (p *pmProducer) window(from, to time.Time, listed map[string]bool) (st pmStream, persisted []pmWait, received []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st = pmStream{Name: p.name, Warnings: append([]string(nil), p.warnings...), Resent: len(p.resent)}
	for _, c := range p.clusters {
		if c.resent || c.written.Before(from) || c.written.After(to) {
			continue
		}
		st.Clusters++
		if !c.received.IsZero() {
			received = append(received, c.received.Sub(c.written))
		}
		switch {
		case !c.persisted.IsZero():
			st.Persisted++
			persisted = append(persisted, pmWait{c.written, c.persisted.Sub(c.written)})
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
	return st, persisted, received
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
