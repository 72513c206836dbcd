package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/eddy-video/eddy/web"
)

// recentErrors is how many warnings and errors the status page shows.
const recentErrors = 50

// errorRing keeps the last recentErrors records at WARN or above that the
// server logs, for the status page. Only those records are copied (their
// attributes formatted as text); the rest pass straight through.
type errorRing struct {
	mu   sync.Mutex
	recs [recentErrors]web.LogRecord
	next int // where the next record goes
	n    int // records held
}

func (e *errorRing) add(rec web.LogRecord) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recs[e.next] = rec
	e.next = (e.next + 1) % recentErrors
	e.n = min(e.n+1, recentErrors)
}

// Recent returns the records held, newest first.
func (e *errorRing) Recent() []web.LogRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]web.LogRecord, 0, e.n)
	for i := 1; i <= e.n; i++ {
		out = append(out, e.recs[(e.next-i+recentErrors)%recentErrors])
	}
	return out
}

// ringHandler is a slog.Handler that passes every record to next and
// copies those at WARN or above to ring.
type ringHandler struct {
	next  slog.Handler
	ring  *errorRing
	attrs []slog.Attr // from WithAttrs, keys prefixed by their groups
	group string      // the open groups, "a.b."
}

func (h *ringHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *ringHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		rec := web.LogRecord{Time: r.Time.UTC(), Level: r.Level.String(), Message: r.Message, Attrs: map[string]string{}}
		if rec.Time.IsZero() {
			rec.Time = time.Now().UTC()
		}
		for _, a := range h.attrs {
			addAttr(rec.Attrs, "", a)
		}
		r.Attrs(func(a slog.Attr) bool {
			addAttr(rec.Attrs, h.group, a)
			return true
		})
		h.ring.add(rec)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil // enabled above for the ring only
	}
	return h.next.Handle(ctx, r)
}

// addAttr adds a (groups flattened to dotted keys) to m.
func addAttr(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(m, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	m[prefix+a.Key] = v.String()
}

func (h *ringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		if h.group != "" {
			a = slog.Attr{Key: h.group[:len(h.group)-1], Value: slog.GroupValue(a)}
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *ringHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.group = h.group + name + "."
	return &c
}
