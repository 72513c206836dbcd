package web

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/fragments"
)

// Coverage limits: a request reads at most maxScan index entries; spans
// longer than maxRangesSpan are answered with per-bucket ratios (hours up
// to maxHourBucketsSpan, days beyond), at most maxSpan in all.
const (
	maxScan            = 100_000
	maxRangesSpan      = 48 * time.Hour
	maxHourBucketsSpan = 92 * 24 * time.Hour
	maxSpan            = 11 * 366 * 24 * time.Hour
	// maxFragmentPad is how far before a window a fragment may start and
	// still reach into it (the longest fragment the fragmenter cuts).
	maxFragmentPad = 60 * time.Second
	probeLimit     = 16
)

type rangeOut struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

type bucketOut struct {
	Start time.Time `json:"start"`
	Ratio float64   `json:"ratio"`
	// Sampled: the bucket held too many fragments to read them all; the
	// ratio is estimated from evenly spaced probes.
	Sampled bool `json:"sampled,omitempty"`
}

type coverageOut struct {
	Stream string    `json:"stream"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Mode is "ranges" (Ranges set) or "buckets" (Bucket and Buckets set).
	Mode    string      `json:"mode"`
	Ranges  []rangeOut  `json:"ranges,omitempty"`
	Bucket  string      `json:"bucket,omitempty"`
	Buckets []bucketOut `json:"buckets,omitempty"`
	Scanned int         `json:"scanned"`
	// Truncated: the scan limit was reached; ranges end at TruncatedAt.
	Truncated   bool       `json:"truncated,omitempty"`
	TruncatedAt *time.Time `json:"truncatedAt,omitempty"`
}

// coverage answers GET /api/v1/streams/{name}/coverage?from=&to= (RFC 3339;
// default: the last 24 hours) with what the archive holds by producer time.
func (h *Handler) coverage(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if err := h.Registry.ValidateName(name); err != nil {
		h.writeError(w, badRequest(err.Error()))
		return
	}
	p := h.principal(w, r)
	if p == nil {
		return
	}
	if !p.Allowed(actionHLS, name) {
		h.writeError(w, h.accessDenied(r, p, actionHLS, name))
		return
	}
	from, to, err := parseWindow(r, h.Now())
	if err != nil {
		h.writeError(w, err)
		return
	}
	st, err := h.Manager.Store(name)
	if err != nil {
		h.writeError(w, err)
		return
	}
	out := coverageOut{Stream: name, From: from, To: to}
	if to.Sub(from) <= maxRangesSpan {
		err = coverageRanges(st, &out)
	} else {
		err = coverageBuckets(st, &out)
	}
	if err != nil {
		h.writeError(w, err)
		return
	}
	writeJSON(w, out)
}

func parseWindow(r *http.Request, now time.Time) (from, to time.Time, err error) {
	q := r.URL.Query()
	to = now.UTC()
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return from, to, badRequest("to must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
	}
	from = to.Add(-24 * time.Hour)
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return from, to, badRequest("from must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
		}
	}
	switch {
	case !to.After(from):
		return from, to, badRequest("to must be after from")
	case to.Sub(from) > maxSpan:
		return from, to, badRequest("from and to may be at most 11 years apart")
	}
	return from.UTC(), to.UTC(), nil
}

func entrySpan(e fragments.IndexEntry) Span {
	return Span{Start: time.Unix(0, e.ProducerTime), End: time.Unix(0, e.ProducerTime+e.Duration)}
}

// scan lists entries starting in [from, to] (producer time) up to limit.
func scan(st *fragments.Store, from, to time.Time, limit int) ([]fragments.IndexEntry, bool, error) {
	var all []fragments.IndexEntry
	var next uint64
	for {
		es, n, err := st.List(fragments.IndexProducerTime, from, to, next, min(limit-len(all), 10_000))
		if err != nil {
			return nil, false, err
		}
		all = append(all, es...)
		if n == 0 {
			return all, false, nil
		}
		if len(all) >= limit {
			return all, true, nil
		}
		next = n
	}
}

func coverageRanges(st *fragments.Store, out *coverageOut) error {
	es, truncated, err := scan(st, out.From.Add(-maxFragmentPad), out.To, maxScan)
	if err != nil {
		return err
	}
	out.Mode, out.Scanned, out.Ranges = "ranges", len(es), []rangeOut{}
	spans := make([]Span, len(es))
	to := out.To
	for i, e := range es {
		spans[i] = entrySpan(e)
	}
	if truncated {
		// Fragments are read in sequence order: what lies after the last
		// one read is unknown.
		at := spans[len(spans)-1].End.UTC()
		out.Truncated, out.TruncatedAt = true, &at
		if at.Before(to) {
			to = at
		}
	}
	for _, s := range MergeSpans(spans, out.From, to, mergeTolerance) {
		out.Ranges = append(out.Ranges, rangeOut{Start: s.Start.UTC(), End: s.End.UTC()})
	}
	return nil
}

func coverageBuckets(st *fragments.Store, out *coverageOut) error {
	size, unit := time.Hour, "hour"
	if out.To.Sub(out.From) > maxHourBucketsSpan {
		size, unit = 24*time.Hour, "day"
	}
	out.Mode, out.Bucket = "buckets", unit
	first := out.From.Truncate(size)
	n := int((out.To.Sub(first) + size - 1) / size)
	budget := max(64, maxScan/(2*n))
	for i := range n {
		bs := first.Add(time.Duration(i) * size)
		be := bs.Add(size)
		ws, we := maxTime(bs, out.From), minTime(be, out.To)
		b := bucketOut{Start: bs.UTC()}
		es, truncated, err := scan(st, ws.Add(-maxFragmentPad), we, budget)
		if err != nil {
			return err
		}
		out.Scanned += len(es)
		spans := make([]Span, len(es))
		var longest time.Duration
		for j, e := range es {
			spans[j] = entrySpan(e)
			longest = max(longest, time.Duration(e.Duration))
		}
		if !truncated {
			b.Ratio = float64(coveredIn(MergeSpans(spans, ws, we, mergeTolerance), ws, we)) / float64(we.Sub(ws))
		} else {
			ratio, scanned, err := probe(st, ws, we, longest, budget/probeLimit)
			if err != nil {
				return err
			}
			b.Ratio, b.Sampled = ratio, true
			out.Scanned += scanned
		}
		out.Buckets = append(out.Buckets, b)
	}
	return nil
}

// probe estimates the covered share of [from, to) from n evenly spaced
// instants: an instant is covered when a fragment starting at most longest
// before it reaches it.
func probe(st *fragments.Store, from, to time.Time, longest time.Duration, n int) (float64, int, error) {
	n = max(n, 4)
	step := to.Sub(from) / time.Duration(n)
	covered, scanned := 0, 0
	for i := range n {
		p := from.Add(step/2 + time.Duration(i)*step)
		es, _, err := st.List(fragments.IndexProducerTime, p.Add(-longest-mergeTolerance), p, 0, probeLimit)
		if err != nil {
			return 0, scanned, err
		}
		scanned += len(es)
		for _, e := range es {
			s := entrySpan(e)
			if !s.Start.After(p) && s.End.Add(mergeTolerance).After(p) {
				covered++
				break
			}
		}
	}
	return float64(covered) / float64(n), scanned, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
