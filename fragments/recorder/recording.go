package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/media"
)

func (r *recording) stop() {
	r.cancel()
	<-r.done
}

func (r *recording) run(ctx context.Context) {
	log := r.rec.Logger.With("stream", r.name)
	defer func() {
		r.rec.mu.Lock()
		if r.rec.running[r.name] == r {
			delete(r.rec.running, r.name)
		}
		r.rec.mu.Unlock()
		r.rec.metrics.recorders.Dec()
		close(r.done)
	}()
	for {
		rd, err := r.hub.NewReader()
		if err != nil {
			return // the publication ended
		}
		err = r.record(ctx, rd)
		rd.Close()
		var se *storeError
		switch {
		case errors.Is(err, media.ErrOverflow):
			r.rec.metrics.recorderDrops.Inc()
			log.Warn("recorder fell behind the publisher; resuming at the next keyframe")
			continue
		case err == nil, errors.Is(err, io.EOF), errors.Is(err, context.Canceled):
			return
		case errors.As(err, &se):
			r.endPublication(se)
			return
		default:
			log.Error("recording stopped", "err", err)
			return
		}
	}
}

// storeError is a fragment the store could not take (a full disk).
type storeError struct{ err error }

func (e *storeError) Error() string { return "store fragment: " + e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// endPublication ends a publication whose fragments cannot be stored
// rather than let its publisher send on for nothing: the publisher is
// told (its RTSP or WHIP session closes), and a camera that reconnects
// records again as soon as the store takes fragments.
func (r *recording) endPublication(err *storeError) {
	r.rec.Logger.Error("recording failed: ending the publication so that its publisher reconnects", "stream", r.name, "err", err.err)
	reason := fmt.Errorf("recording failed: %w", err.err)
	if r.rec.EndPublication != nil {
		r.rec.EndPublication(r.name, r.hub, reason)
		return
	}
	r.hub.End(reason)
}

// record feeds one reader's units through a fragmenter into the store.
func (r *recording) record(ctx context.Context, rd *media.Reader) error {
	var cutAt time.Time  // arrival of the unit that closed the fragment
	var lastIn time.Time // arrival of the fragment's last unit
	m := r.rec.metrics
	sc := m.forStream(r.rec.Videos.Core.StreamLabel(r.name), r.hub.Protocol)
	fr := &fragmenter.Fragmenter{
		Tracks:      r.hub.Tracks,
		MaxDuration: r.rec.MaxFragmentDuration,
		OnEvent:     func(e fragmenter.Event) { r.rec.metrics.repairs.WithLabelValues(e.String()).Inc() },
		Emit: func(init *fragments.InitSegment, f *fragments.Fragment) error {
			sc.incoming.Inc()
			if d := lastIn.UnixNano() - f.ServerTime; !lastIn.IsZero() && d >= 0 {
				m.ingestionLatency.Observe(float64(d) / 1e9)
			}
			if _, err := r.store.Append(init, f); err != nil {
				if errors.Is(err, fragments.ErrInvalidFragment) {
					// Nothing was written; the publication goes on.
					m.repairs.WithLabelValues("invalid").Inc()
					r.rec.Logger.Warn("fragment skipped", "stream", r.name, "err", err)
					return nil
				}
				m.appendErrors.Inc()
				sc.failures.Inc()
				return &storeError{err}
			}
			m.fragments.Inc()
			sc.success.Inc()
			m.bytes.Add(float64(len(f.Media)))
			if !cutAt.IsZero() {
				m.persistLatency.Observe(time.Since(cutAt).Seconds())
			}
			return nil
		},
	}
	if t := r.rec.Videos.PartDuration; t > 0 {
		live := r.store.Live()
		var seg fragments.LiveSegment
		fr.PartTarget = t
		fr.EmitPart = func(init *fragments.InitSegment, p *fragmenter.PartCut) {
			if p.First {
				// The previous fragment was appended before this one
				// opened (Emit is synchronous), so its number is next.
				seg = fragments.LiveSegment{Seq: r.store.NextSeq(), InitID: init.ID, ServerTime: p.ServerTime, Keyframe: p.Keyframe}
			}
			seg.ProducerTime = p.ProducerTime
			live.AddPart(seg, init, &fragments.LivePart{Duration: p.Duration, Independent: p.Independent, Media: p.Media, First: p.Arrival}, p.Last)
		}
		run := live.Start(t)
		defer live.Stop(run)
	}
	if err := fr.Initialize(); err != nil {
		r.rec.Logger.Warn("publication not recorded", "stream", r.name, "err", err)
		<-ctx.Done()
		return ctx.Err()
	}
	for {
		au, err := rd.Read(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				lastIn, cutAt = cutAt, time.Time{}
				if ferr := fr.Flush(); ferr != nil {
					return ferr
				}
			}
			return err
		}
		lastIn, cutAt = cutAt, au.Arrival
		if err := fr.Push(au); err != nil {
			return err
		}
	}
}

// recording reads one publication from its hub, cuts it into fragments
// and stores them. One that falls behind is dropped by the hub like any
// reader; it then rejoins at the next keyframe (the gap is counted), so
// the publisher is never slowed.
type recording struct {
	rec    *Recorder
	name   string
	hub    *media.Hub
	store  *fragments.Store
	cancel context.CancelFunc
	done   chan struct{}
}
