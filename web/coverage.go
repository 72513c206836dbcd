package web

import (
	"sort"
	"time"
)

// Span is a half-open time range [Start, End).
type Span struct {
	Start, End time.Time
}

// mergeTolerance joins fragments whose ends and starts are this close:
// fragment durations and producer clocks are not sample-exact.
const mergeTolerance = 100 * time.Millisecond

// MergeSpans sorts spans and joins those that overlap or touch within tol,
// clipped to [from, to). Empty spans after clipping are dropped.
func MergeSpans(spans []Span, from, to time.Time, tol time.Duration) []Span {
	clipped := make([]Span, 0, len(spans))
	for _, s := range spans {
		if s.Start.Before(from) {
			s.Start = from
		}
		if s.End.After(to) {
			s.End = to
		}
		if s.End.After(s.Start) {
			clipped = append(clipped, s)
		}
	}
	sort.Slice(clipped, func(i, j int) bool { return clipped[i].Start.Before(clipped[j].Start) })
	var out []Span
	for _, s := range clipped {
		if n := len(out); n > 0 && !s.Start.After(out[n-1].End.Add(tol)) {
			if s.End.After(out[n-1].End) {
				out[n-1].End = s.End
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// coveredIn returns how much of [from, to) merged spans cover.
func coveredIn(merged []Span, from, to time.Time) time.Duration {
	var d time.Duration
	for _, s := range merged {
		a, b := s.Start, s.End
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		if b.After(a) {
			d += b.Sub(a)
		}
	}
	return d
}
