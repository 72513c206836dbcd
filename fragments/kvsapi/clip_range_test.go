package kvsapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/fragments/archive"
)

func TestParseByteRange(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		first, last  int64
		ok           bool
	}{
		{"open end", "bytes=10-", 10, 99, true},
		{"closed", "bytes=10-19", 10, 19, true},
		{"past the end clamped", "bytes=90-500", 90, 99, true},
		{"suffix", "bytes=-5", 95, 99, true},
		{"suffix longer than body", "bytes=-500", 0, 99, true},
		{"first byte past the end", "bytes=100-", 100, 99, true},
		{"none", "", 0, 0, false},
		{"other unit", "items=1-2", 0, 0, false},
		{"several ranges", "bytes=1-2,5-6", 0, 0, false},
		{"backwards", "bytes=20-10", 0, 0, false},
		{"negative", "bytes=-", 0, 0, false},
		{"garbage", "bytes=a-b", 0, 0, false},
		{"no dash", "bytes=12", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, last, ok := parseByteRange(tc.header, 100)
			if ok != tc.ok || (ok && (first != tc.first || last != tc.last)) {
				t.Fatalf("parseByteRange(%q) = %d, %d, %v; want %d, %d, %v", tc.header, first, last, ok, tc.first, tc.last, tc.ok)
			}
		})
	}
}

// FuzzByteRange: any Range header either parses to a range inside the
// body (or one starting at its end or later, which is answered 416) or is
// ignored; never a panic or a slice outside the body.
func FuzzByteRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=5-9", "bytes=-3", "bytes=1-2,3-4", "bytes=9223372036854775807-", "bytes=-9223372036854775808", "bytes= 1-2"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, header string, size int64) {
		if size < 0 || size > 1<<20 {
			return
		}
		first, last, ok := parseByteRange(header, size)
		if !ok || first >= size {
			return
		}
		if first < 0 || last < first || last >= size {
			t.Fatalf("parseByteRange(%q, %d) = %d, %d", header, size, first, last)
		}
	})
}

func TestWriteClipRanges(t *testing.T) {
	c := &archive.Clip{Bytes: []byte(strings.Repeat("0123456789", 10))}
	for _, tc := range []struct {
		name, rng, ifRange string
		status             int
		body               string
	}{
		{"whole", "", "", http.StatusOK, string(c.Bytes)},
		{"resume", "bytes=95-", c.ETag(), http.StatusPartialContent, "56789"},
		{"resume without If-Range", "bytes=0-2", "", http.StatusPartialContent, "012"},
		{"changed clip", "bytes=95-", `"other"`, http.StatusOK, string(c.Bytes)},
		{"past the end", "bytes=100-", c.ETag(), http.StatusRequestedRangeNotSatisfiable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/getClip", nil)
			if tc.rng != "" {
				r.Header.Set("Range", tc.rng)
			}
			if tc.ifRange != "" {
				r.Header.Set("If-Range", tc.ifRange)
			}
			w := httptest.NewRecorder()
			writeClip(w, r, c)
			if w.Code != tc.status || w.Header().Get("ETag") != c.ETag() {
				t.Fatalf("status %d ETag %q; want %d %q", w.Code, w.Header().Get("ETag"), tc.status, c.ETag())
			}
			if tc.body != "" && w.Body.String() != tc.body {
				t.Fatalf("body %q; want %q", w.Body.String(), tc.body)
			}
		})
	}
}
