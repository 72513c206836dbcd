// Package netlimit keeps a TCP listener serving when clients misbehave: it
// caps open connections in total and per client address (a connection over
// a cap is closed at once, so file descriptors stay for the clients that
// matter), retries accept errors such as "too many open files" with backoff
// instead of failing, and reports the listener's state for health checks.
// The RTSP and RTSPS servers (media/rtsp) and the HTTP listener (server)
// use it; it lives under media because media's packages may import only
// their own folder.
//
// It knows TCP listeners and addresses, nothing of the protocols served on
// them.
package netlimit
