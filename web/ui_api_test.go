package web

import (
	"net/http/httptest"
	"testing"
)

// TestMaxBytes: the size cap is the eddy:max-bytes tag when it is a
// positive decimal number, else the retention bytes, else none.
func TestMaxBytes(t *testing.T) {
	for _, tc := range []struct {
		tag       string
		retention int64
		want      int64
	}{
		{"5000000", 0, 5000000},
		{"5000000", 700, 5000000},
		{"", 700, 700},
		{"1e9", 0, 0},
		{"-5", 0, 0},
		{"0", 0, 0},
		{"99999999999999999999", 0, 0},
		{"", 0, 0},
	} {
		tags := map[string]string{"other": "1"}
		if tc.tag != "" {
			tags[maxBytesTag] = tc.tag
		}
		if got := maxBytes(tags, tc.retention); got != tc.want {
			t.Errorf("tag %q retention %d: %d, want %d", tc.tag, tc.retention, got, tc.want)
		}
	}
}

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
