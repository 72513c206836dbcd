package kvsapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// serveAsServer serves api.ServeAs over HTTP, as the web UI does: the
// operation from the path, the principal from a header (the session's).
func serveAsServer(t *testing.T, api *kvsapi.API) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeAs(w, r, strings.TrimPrefix(r.URL.Path, "/"), r.Header.Get("X-Principal"))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func serveAs(t *testing.T, base, op, principal, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/"+op, strings.NewReader(body))
	req.Header.Set("X-Principal", principal)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), string(b)
}

// TestServeAs: with credentials configured, a call without a principal or
// with one no longer configured is refused (403 AccessDeniedException)
// and changes nothing; a configured one gets exactly its rights; without
// credentials every call runs. ServeAs works on an API never mounted.
func TestServeAs(t *testing.T) {
	clk := datastreamstest.NewClock(time.Now())
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	creds, err := awsauth.NewCredentials([]awsauth.Identity{{AccessKeyID: "AKVIEW", Secret: "viewer-secret",
		Rules: []awsauth.Rule{{Actions: []string{"kinesisvideo:DescribeStream"}, Streams: []string{"cam"}}}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	guarded := serveAsServer(t, &kvsapi.API{Videos: m, Guard: &kvsapi.Guard{Verifier: &awsauth.Verifier{Credentials: creds, Region: "us-east-1"}}})

	for _, principal := range []string{"", "AKGONE"} {
		st, typ, b := serveAs(t, guarded, "CreateStream", principal, `{"StreamName":"made"}`)
		if st != 403 || typ != "AccessDeniedException" {
			t.Errorf("CreateStream as %q: %d %s %s", principal, st, typ, b)
		}
		if _, err := m.Describe("made"); err == nil {
			t.Fatalf("CreateStream as %q created the stream", principal)
		}
		if st, typ, b := serveAs(t, guarded, "DescribeStream", principal, `{"StreamName":"cam"}`); st != 403 || typ != "AccessDeniedException" {
			t.Errorf("DescribeStream as %q: %d %s %s", principal, st, typ, b)
		}
	}
	st, _, b := serveAs(t, guarded, "DescribeStream", "AKVIEW", `{"StreamName":"cam"}`)
	var out struct{ StreamInfo struct{ StreamName string } }
	if st != 200 || json.Unmarshal([]byte(b), &out) != nil || out.StreamInfo.StreamName != "cam" {
		t.Errorf("DescribeStream as the viewer: %d %s", st, b)
	}
	if st, typ, b := serveAs(t, guarded, "CreateStream", "AKVIEW", `{"StreamName":"made"}`); st != 403 || typ != "AccessDeniedException" || !strings.Contains(b, "kinesisvideo:CreateStream") {
		t.Errorf("CreateStream as the viewer: %d %s %s", st, typ, b)
	}
	want := "it serves CreateStream, DescribeStream, ListStreams, DeleteStream, UpdateStream, UpdateDataRetention, TagStream, UntagStream and ListTagsForStream."
	for _, op := range []string{"GetClip", "GetDataEndpoint", "Nope"} {
		if st, typ, b := serveAs(t, guarded, op, "AKVIEW", `{}`); st != 404 || typ != kvsapi.CodeUnknownOperation || !strings.Contains(b, want) {
			t.Errorf("%s: %d %s %s", op, st, typ, b)
		}
	}

	// Without credentials, there is no principal and everything runs.
	open := serveAsServer(t, &kvsapi.API{Videos: m})
	if st, _, b := serveAs(t, open, "CreateStream", "", `{"StreamName":"made"}`); st != 200 {
		t.Errorf("CreateStream on an open server: %d %s", st, b)
	}
	if _, err := m.Describe("made"); err != nil {
		t.Errorf("the open server's CreateStream: %v", err)
	}
}
