package hls

import (
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestWriteWithTokenMatchesReplaceAll: writeWithToken writes what
// strings.ReplaceAll would (the rendering it replaced), with the right
// Content-Length, whatever the token and the pooled buffer it reuses
// (bodies of many sizes, one after another).
func TestWriteWithTokenMatchesReplaceAll(t *testing.T) {
	p := tokenPlaceholder
	bodies := []string{"", "#EXTM3U\n", p, p + p, "a" + p + "b" + p + p + "c" + p, strings.Repeat("x?SessionToken="+p+"\n", 5000)}
	toks := []string{"", "abc", "a+b/c=d&e%f\x00g é", strings.Repeat("t", 3000)}
	for _, body := range bodies {
		for _, raw := range toks {
			tok := url.QueryEscape(raw)
			want := strings.ReplaceAll(body, p, tok)
			w := httptest.NewRecorder()
			writeWithToken(w, strings.Split(body, p), tok)
			if got := w.Body.String(); got != want {
				t.Fatalf("body %q token %q: wrote %q", body[:min(len(body), 20)], raw, got[:min(len(got), 40)])
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(want)) {
				t.Fatalf("Content-Length %s, want %d", cl, len(want))
			}
		}
	}
}
