package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

func TestLoadCredentials(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cams")
	if err := os.WriteFile(file, []byte("  wJalrXUtnFEMI/K7MDENG+bPxRfiCY\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules := []awsauth.Rule{{Actions: []string{"rtsp:publish"}, Streams: []string{"cam-*"}}}
	creds, err := LoadCredentials([]Source{
		{AccessKeyID: "AKIDCAMERAS", SecretFile: file, Rules: rules},
		{AccessKeyID: "AKIDINLINE", Secret: "inline-secret", Rules: rules},
	}, ".events")
	if err != nil {
		t.Fatal(err)
	}
	a := &Auth{Credentials: creds}
	if s, ok := a.Secret("AKIDCAMERAS"); !ok || s != "wJalrXUtnFEMI/K7MDENG+bPxRfiCY" {
		t.Fatalf("secret from the file: %q %v (white space around it is not part of it)", s, ok)
	}
	if s, ok := a.Secret("AKIDINLINE"); !ok || s != "inline-secret" {
		t.Fatalf("inline secret: %q %v", s, ok)
	}
	if _, ok := a.Secret("AKIDNOBODY"); ok {
		t.Fatal("an unknown key has a secret")
	}
	for _, tc := range []struct {
		id, action, stream string
		want               bool
	}{
		{"AKIDCAMERAS", "rtsp:publish", "cam-1", true},
		{"AKIDCAMERAS", "rtsp:publish", "cam-1.events", true},
		{"AKIDCAMERAS", "rtsp:read", "cam-1", false},
		{"AKIDCAMERAS", "rtsp:publish", "door-1", false},
		{"AKIDNOBODY", "rtsp:publish", "cam-1", false},
	} {
		if got := a.Allowed(tc.id, tc.action, tc.stream); got != tc.want {
			t.Errorf("Allowed(%s, %s, %s) = %v, want %v", tc.id, tc.action, tc.stream, got, tc.want)
		}
	}
	_, err = LoadCredentials([]Source{{AccessKeyID: "AKIDMISSING", SecretFile: filepath.Join(t.TempDir(), "none"), Rules: rules}}, "")
	if err == nil || !strings.Contains(err.Error(), "AKIDMISSING: secret_access_key_file") {
		t.Fatalf("a missing secret file: %v", err)
	}
}
