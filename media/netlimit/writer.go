package netlimit

import (
	"errors"
	"net/http"
	"os"
	"time"
)

// Deadlines bound what a reader that stops reading can hold: every write
// of a response must finish within Write, or the connection (HTTP/1) or
// stream (HTTP/2) is cut, its handler returns and its buffers are freed;
// OnCut counts it. The server gives one to every HTTP reader.
type Deadlines struct {
	Write time.Duration // 0: no deadline
	OnCut func()
}

// Writer wraps a response so that every write gets the deadline, and
// remembers whether the response has started (its status is sent): an
// error before then can still be answered as an error.
type Writer struct {
	http.ResponseWriter
	d       Deadlines
	rc      *http.ResponseController
	started bool
	cut     bool
}

// Writer wraps w (nil d.OnCut: not counted).
func (d Deadlines) Writer(w http.ResponseWriter) *Writer {
	return &Writer{ResponseWriter: w, d: d, rc: http.NewResponseController(w)}
}

// WriteHeader sends the status.
func (w *Writer) WriteHeader(code int) {
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

// Write writes within the deadline; a write that misses it cuts the
// reader.
func (w *Writer) Write(b []byte) (int, error) {
	w.started = true
	if w.d.Write <= 0 {
		return w.ResponseWriter.Write(b)
	}
	deadline := time.Now().Add(w.d.Write)
	_ = w.rc.SetWriteDeadline(deadline)
	n, err := w.ResponseWriter.Write(b)
	w.check(err, deadline)
	return n, err
}

// Started reports whether the status has been sent.
func (w *Writer) Started() bool { return w.started }

// Done flushes what is buffered within the deadline, so that the end of
// the response is bounded too, then lifts it for what the handler may
// still do. A reader cut before the end keeps it (it is closing).
func (w *Writer) Done() {
	if w.d.Write <= 0 {
		return
	}
	deadline := time.Now().Add(w.d.Write)
	_ = w.rc.SetWriteDeadline(deadline)
	err := w.rc.Flush()
	w.check(err, deadline)
	if err == nil {
		_ = w.rc.SetWriteDeadline(time.Time{})
	}
}

// check counts a write that failed on its deadline, once. HTTP/2 reports
// a stream reset, not the deadline: a failure at or after the deadline
// counts too.
func (w *Writer) check(err error, deadline time.Time) {
	if err == nil || w.cut || (!errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline)) {
		return
	}
	w.cut = true
	if w.d.OnCut != nil {
		w.d.OnCut()
	}
}

// Unwrap gives http.ResponseController the wrapped writer.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }
