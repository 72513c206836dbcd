package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"rtsp://cam.local:554/stream1", "rtsp://cam.local:554/stream1"},
		{"rtsp://admin:s3cr%40t@cam.local/live", "rtsp://xxxxx@cam.local/live"},
		{"rtsp://admin:a/b?c#d@cam.local/live", "rtsp://xxxxx@cam.local/live"}, // does not parse
		{"rtsp://admin:p@10.0.0.2:554/x?channel=1&user=admin&password=pw", "rtsp://xxxxx@10.0.0.2:554/x?channel=1&user=xxxxx&password=xxxxx"},
		{"rtsp://cam/x?Pass-Word=1&subtype=0&access_token=t#f", "rtsp://cam/x?Pass-Word=xxxxx&subtype=0&access_token=xxxxx#f"},
		{"rtsp://cam/x?contact=me@example.com", "rtsp://cam/x?contact=me@example.com"}, // an @ in the query only
		{"rtsp://cam/x?%70wd=9", "rtsp://cam/x?%70wd=xxxxx"},                           // a percent-encoded name
		{"not a url", "not a url"},
	} {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestText(t *testing.T) {
	msg := `describe: parse "rtsp://u:Zq9%2Fk@cam/x?pwd=Zq9": invalid; see http://example.com/help and rtsp://v:a@b/`
	got := Text(msg)
	want := `describe: parse "rtsp://xxxxx@cam/x?pwd=xxxxx": invalid; see http://example.com/help and rtsp://xxxxx@b/`
	if got != want {
		t.Errorf("Text:\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "Zq9") {
		t.Errorf("Text left the password in %q", got)
	}
	if s := "no URL here: a@b"; Text(s) != s {
		t.Errorf("Text changed %q", s)
	}
}
