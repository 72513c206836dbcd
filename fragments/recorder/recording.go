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
	rd := r.first
	for {
		if rd == nil {
			var err error
			if rd, err = r.hub.NewReader(); err != nil {
				return // the publication ended
			}
		}
		err := r.record(ctx, rd)
		rd.Close()
		rd = nil
		var se *storeError
		switch {
		case errors.Is(err, media.ErrOverflow) && r.hub.CutsFragments:
			// The units the hub dropped carried fragment ends whose
			// Stored hooks this recorder never sees: resuming would leave
			// their publisher waiting for them. The publication ends
			// instead; its publisher is told at once (PutMedia: its
			// producer resends what was not PERSISTED).
			r.rec.metrics.recorderDrops.Inc()
			reason := fmt.Errorf("recording fell behind a publication that cuts its own fragments: %w", err)
			log.Warn("recorder fell behind the publisher; ending the publication", "err", err)
			if r.rec.EndPublication != nil {
				r.rec.EndPublication(r.name, r.hub, reason)
			} else {
				r.hub.End(reason)
			}
			return
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
	// stored is the Stored hook of the publisher-cut fragment being ended
	// (the unit marked FragmentEnd being pushed): the fragment it ends is
	// the one emitted while that unit is pushed.
	var stored func(uint64, error)
	report := func(seq uint64, err error) {
		if stored != nil {
			stored(seq, err)
			stored = nil
		}
	}
	defer report(0, errNotRecorded)
	fr := &fragmenter.Fragmenter{
		Tracks:        r.hub.Tracks,
		MaxDuration:   r.rec.MaxFragmentDuration,
		PublisherCuts: r.hub.CutsFragments,
		OnEvent:       func(e fragmenter.Event) { r.rec.metrics.repairs.WithLabelValues(e.String()).Inc() },
		Emit: func(init *fragments.InitSegment, f *fragments.Fragment) error {
			sc.incoming.Inc()
			if d := lastIn.UnixNano() - f.ServerTime; !lastIn.IsZero() && d >= 0 {
				m.ingestionLatency.Observe(float64(d) / 1e9)
			}
			seq, err := r.store.Append(init, f)
			if err != nil {
				report(0, err)
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
			report(seq, nil)
			m.fragments.Inc()
			sc.success.Inc()
			m.bytes.Add(float64(len(f.Media)))
			if !cutAt.IsZero() {
				m.persistLatency.Observe(time.Since(cutAt).Seconds())
			}
			return nil
		},
	}
	// The reader is lazy: the hub wakes this goroutine only when a
	// fragment or a part may be cut (see media.Reader.SetLazy), not for
	// every access unit. While LL-HLS parts are wanted it is eager, so
	// that a part is cut as soon as its last unit arrived.
	eager := func() bool { return false }
	if t := r.rec.Videos.PartDuration; t > 0 {
		live := r.store.Live()
		eager = live.Watched
		var seg fragments.LiveSegment
		fr.PartTarget = t
		// Parts are cut only while someone watches the stream in
		// LL-HLS: a part is one more copy of its frames, and most
		// cameras are recorded unwatched. A viewer who arrives gets
		// the fragment in progress whole in parts, at its next part
		// boundary.
		fr.PartsWanted = live.Watched
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
	rd.SetLazy(!eagerReaders)
	batch := make([]*media.AccessUnit, 0, readBatch)
	for {
		rd.SetEager(eager())
		var err error
		batch, err = rd.ReadBatch(ctx, batch)
		for i, au := range batch {
			batch[i] = nil // the batch keeps no unit alive
			lastIn, cutAt = cutAt, au.Arrival
			if au.FragmentEnd {
				stored = au.Stored
			}
			if err := fr.Push(au); err != nil {
				return err
			}
			// A fragment end that emitted nothing (its units came before
			// the first keyframe, or were dropped) stored nothing.
			report(0, errNotRecorded)
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
				lastIn, cutAt = cutAt, time.Time{}
				if ferr := fr.Flush(); ferr != nil {
					return ferr
				}
			}
			return err
		}
	}
}

// eagerReaders, set by tests only, makes recorders read as every other
// reader does, woken for each unit: their fragments must be the same.
var eagerReaders = false

// readBatch is how many access units the recorder takes from its reader
// at once: about a second of a 25 fps stream with its audio.
const readBatch = 128

// errNotRecorded tells a publisher-cut fragment's Stored hook that none of
// the fragment was stored: its units came before the recording could
// start (no keyframe with its parameter sets yet), were too large, or the
// recording ended first.
var errNotRecorded = errors.New("recorder: the fragment was not recorded")

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
	// first is the reader OnPublish attached before the publisher's first
	// unit, so that a recording misses none of it.
	first *media.Reader
}
