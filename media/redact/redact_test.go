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
		{"rtsp://cam/x?contact=me@example.com", "rtsp://cam/x?contact=me@example.com"},           // an @ in the query only
		{"rtsp://u:p@cam/x?contact=me@example.com", "rtsp://xxxxx@cam/x?contact=me@example.com"}, // and a userinfo
		{"A#://@?pwd=@", "A#://xxxxx@?pwd=xxxxx"},                                                // found by fuzzing: stable
		{"rtsp://cam/x?%70wd=9", "rtsp://cam/x?%70wd=xxxxx"},                                     // a percent-encoded name
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

// FuzzURL: camera URLs come from configuration, but the error texts Text
// masks quote whatever a camera or the network answered. Whatever the
// input, masking never panics, is stable (masking twice changes nothing
// more), and leaves no password of a URL with user:password@ in it.
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"rtsp://admin:s3cr%40t@cam.local/live", "rtsp://admin:a/b?c#d@cam.local/live",
		"rtsp://cam/x?Pass-Word=1&subtype=0", "rtsp://cam/x?contact=me@example.com", "not a url", "rtsp://u:@h/",
		`describe: parse "rtsp://u:Zq9%2Fk@cam/x?pwd=Zq9": invalid`,
	} {
		f.Add(s, "Sup3rSecretPw")
	}
	f.Fuzz(func(t *testing.T, s, pw string) {
		once := URL(s)
		if again := URL(once); again != once {
			t.Fatalf("URL is not stable: %q -> %q -> %q", s, once, again)
		}
		txt := Text(s)
		if again := Text(txt); again != txt {
			t.Fatalf("Text is not stable: %q -> %q -> %q", s, txt, again)
		}
		// A password of URL-safe characters, well apart from the rest of
		// the URL, never survives.
		urlSafe := func(r rune) bool {
			return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)
		}
		if len(pw) < 8 || strings.Contains(s, pw) || strings.IndexFunc(pw, func(r rune) bool { return !urlSafe(r) }) >= 0 {
			return
		}
		u := "rtsp://user:" + pw + "@cam.example:554/" + s
		if strings.Contains(URL(u), pw) {
			t.Fatalf("URL(%q) kept the password: %q", u, URL(u))
		}
		if strings.Contains(Text("error: "+u+" refused"), pw) {
			t.Fatalf("Text kept the password of %q", u)
		}
	})
}
