package fragments

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/media"
)

// recorder reads one publication from its hub like any other reader, cuts
// it into fragments and stores them. A recorder that falls behind is
// dropped by the hub like any reader; it then rejoins at the next keyframe
// (the gap is counted), so the publisher is never slowed.
type recorder struct {
	m      *Manager
	name   string
	hub    *media.Hub
	store  *Store
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *Manager) onPublish(name string, h *media.Hub) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stores[name]
	if m.closed || st == nil {
		return
	}
	s, err := m.videoStream(name)
	if err != nil || readExt(s).RetentionHours == 0 {
		return // retention 0: live only, nothing persisted
	}
	if old := m.recorders[name]; old != nil {
		go old.stop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{m: m, name: name, hub: h, store: st, cancel: cancel, done: make(chan struct{})}
	m.recorders[name] = r
	m.metrics.recorders.Inc()
	go r.run(ctx)
}

func (m *Manager) onUnpublish(name string, h *media.Hub) {
	// The hub's readers get EOF; the recorder flushes its last fragment
	// and leaves by itself.
}

func (r *recorder) stop() {
	r.cancel()
	<-r.done
}

func (r *recorder) run(ctx context.Context) {
	log := r.m.Logger.With("stream", r.name)
	defer func() {
		r.m.mu.Lock()
		if r.m.recorders[r.name] == r {
			delete(r.m.recorders, r.name)
		}
		r.m.mu.Unlock()
		r.m.metrics.recorders.Dec()
		close(r.done)
	}()
	for {
		rd, err := r.hub.NewReader()
		if err != nil {
			return // the publication ended
		}
		err = r.record(ctx, rd)
		rd.Close()
		switch {
		case errors.Is(err, media.ErrOverflow):
			r.m.metrics.recorderDrops.Inc()
			log.Warn("recorder fell behind the publisher; resuming at the next keyframe")
			continue
		case err == nil, errors.Is(err, io.EOF), errors.Is(err, context.Canceled):
			return
		default:
			log.Error("recording stopped", "err", err)
			return
		}
	}
}

// record feeds one reader's units through a fragmenter into the store.
func (r *recorder) record(ctx context.Context, rd *media.Reader) error {
	var cutAt time.Time // arrival of the unit that closed the fragment
	fr := &Fragmenter{
		Tracks:      r.hub.Tracks,
		MaxDuration: r.m.MaxFragmentDuration,
		Emit: func(init *InitSegment, f *Fragment) error {
			if _, err := r.store.Append(init, f); err != nil {
				r.m.metrics.appendErrors.Inc()
				return err
			}
			r.m.metrics.fragments.Inc()
			r.m.metrics.bytes.Add(float64(len(f.Media)))
			if !cutAt.IsZero() {
				r.m.metrics.persistLatency.Observe(time.Since(cutAt).Seconds())
			}
			return nil
		},
	}
	if t := r.m.PartDuration; t > 0 {
		live := r.store.Live()
		var seg LiveSegment
		fr.PartTarget = t
		fr.EmitPart = func(init *InitSegment, p *PartCut) {
			if p.First {
				// The previous fragment was appended before this one
				// opened (Emit is synchronous), so its number is next.
				seg = LiveSegment{Seq: r.store.NextSeq(), InitID: init.ID, ServerTime: p.ServerTime, Keyframe: p.Keyframe}
			}
			seg.ProducerTime = p.ProducerTime
			live.addPart(seg, init, &LivePart{Duration: p.Duration, Independent: p.Independent, Media: p.Media, First: p.Arrival}, p.Last)
		}
		run := live.start(t)
		defer live.stop(run)
	}
	if err := fr.Initialize(); err != nil {
		r.m.Logger.Warn("publication not recorded", "stream", r.name, "err", err)
		<-ctx.Done()
		return ctx.Err()
	}
	for {
		au, err := rd.Read(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				cutAt = time.Time{}
				if ferr := fr.Flush(); ferr != nil {
					return ferr
				}
			}
			return err
		}
		cutAt = au.Arrival
		if err := fr.Push(au); err != nil {
			return err
		}
	}
}

type metrics struct {
	recorders      prometheus.Gauge
	recorderDrops  prometheus.Counter
	fragments      prometheus.Counter
	bytes          prometheus.Counter
	appendErrors   prometheus.Counter
	persistLatency prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		recorders: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_recorders", Help: "Publications being recorded."}),
		recorderDrops: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_recorder_overflows_total",
			Help: "Times a recorder fell a whole queue behind its publisher and resumed at the next keyframe."}),
		fragments:    prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragments_persisted_total", Help: "Fragments made durable and listed."}),
		bytes:        prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragment_bytes_total", Help: "Media bytes of persisted fragments."}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "eddy_fragment_append_errors_total", Help: "Fragments that failed to persist."}),
		persistLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_fragment_persist_seconds",
			Help:    "From the arrival of the unit that closes a fragment to the fragment being durable and listed.",
			Buckets: []float64{.001, .002, .005, .01, .02, .03, .05, .075, .1, .2, .5, 1, 2}}),
	}
	if reg != nil {
		reg.MustRegister(m.recorders, m.recorderDrops, m.fragments, m.bytes, m.appendErrors, m.persistLatency)
	}
	return m
}
