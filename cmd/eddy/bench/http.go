package bench

import (
	"net/http"
	"time"
)

// newHTTPClient is the HTTP client of the video benches (their requests,
// /metrics, WHEP): a 30 s timeout, up to conns idle connections to the
// server, and no gzip, so that the server does not spend CPU compressing
// what the bench reads.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true,
	}}
}
