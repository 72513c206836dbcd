// Package netlimit keeps a TCP listener serving when clients misbehave: it
// caps open connections in total and per client address (a connection over
// a cap is closed at once, so file descriptors stay for the clients that
// matter), retries accept errors such as "too many open files" with backoff
// instead of failing, and reports the listener's state for health checks.
// Its Writer gives an HTTP response a deadline on every write, so that a
// reader that stops reading is cut and counted (Deadlines).
//
// The RTSP and RTSPS servers (media/rtsp) and the HTTP listener (server)
// use the listener; the HTTP readers (fragments/kvsapi, hls, web) the
// Writer. It lives under media because media's packages may import only
// their own folder.
//
// It knows TCP listeners, addresses and HTTP response writers, nothing of
// the protocols served on them.
package netlimit
