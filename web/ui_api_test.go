package web

import (
	"net/http/httptest"
	"testing"
)

// TestEndpointURLs: the request's host name (IPv6 too) with the
// listener's port.
func TestEndpointURLs(t *testing.T) {
	for _, tc := range []struct{ reqHost, addr, want string }{
		{"cams.example:8080", "0.0.0.0:8554", "rtsp://cams.example:8554"},
		{"cams.example", "127.0.0.1:8554", "rtsp://cams.example:8554"},
		{"[::1]:8080", "[::]:8554", "rtsp://[::1]:8554"},
		{"10.0.0.5:8080", "", ""},
	} {
		r := httptest.NewRequest("GET", "/api/v1/ui/endpoints", nil)
		r.Host = tc.reqHost
		if got := withHost("rtsp", requestHost(r), tc.addr); got != tc.want {
			t.Errorf("host %q addr %q: %q, want %q", tc.reqHost, tc.addr, got, tc.want)
		}
	}
}
