package blockcache

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// UnavailableError is the error of a read that needs the object store
// while it cannot be reached: the failed fetch itself, or a read refused
// at once while the breaker is open. errors.Is(err,
// logstore.ErrUnavailable) holds for it; Unwrap gives the fetch's error.
type UnavailableError struct {
	Since time.Time // the first failed fetch of the outage
	Until time.Time // reads fail at once until then (Retry-After)
	Err   error     // the last fetch's error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the object store cannot be reached since %s (next attempt at %s): %v",
		e.Since.UTC().Format(time.RFC3339), e.Until.UTC().Format(time.RFC3339), e.Err)
}

// Is reports logstore.ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == logstore.ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// breaker fails reads at once after a failed fetch: for Backoff, doubling
// up to MaxBackoff while fetches keep failing; the first fetch that
// succeeds closes it. Once the backoff has passed one read that needs a
// fetch tries the store (the probe) while the others still fail at once,
// so an outage costs one fetch per backoff, not one per reader. Guarded
// by Cache.mu.
type breaker struct {
	since   time.Time // zero: closed
	until   time.Time
	backoff time.Duration
	last    error
	probing bool // a fetch is trying the store after the backoff
}

// openErr is the error of a read that needs a fetch now, nil when it may
// fetch (it may then be the probe).
func (b *breaker) openErr(now time.Time) error {
	if b.since.IsZero() {
		return nil
	}
	if !now.Before(b.until) && !b.probing {
		b.probing = true
		return nil
	}
	return &UnavailableError{Since: b.since, Until: b.until, Err: b.last}
}

// record takes a fetch's outcome (err: the store did not answer); it
// returns err wrapped for readers.
func (b *breaker) record(err error, cfg Config, log *slog.Logger, m *metrics) error {
	now := cfg.Now()
	if err == nil {
		if !b.since.IsZero() {
			log.Info("the object store answers again", "down_since", b.since, "down_for", now.Sub(b.since).Round(time.Millisecond))
		}
		*b = breaker{}
		m.available.Set(1)
		return nil
	}
	switch {
	case b.since.IsZero():
		b.since = now
		b.backoff = cfg.Backoff
		b.until = now.Add(b.backoff)
		log.Warn("the object store cannot be reached: reads of blocks not cached fail until it answers", "err", err)
	case !now.Before(b.until): // the probe (or a fetch that outlived the backoff)
		b.backoff = min(2*b.backoff, max(MaxBackoff, cfg.Backoff))
		b.until = now.Add(b.backoff)
	}
	// else a fetch started before the breaker opened: the backoff stands.
	b.probing = false
	b.last = err
	m.available.Set(0)
	return &UnavailableError{Since: b.since, Until: b.until, Err: err}
}
