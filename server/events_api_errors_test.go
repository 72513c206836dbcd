package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestEventsAPIErrors: the event reads answer bad parameters with 400
// InvalidArgumentException and a message, and an unknown stream with 404
// ResourceNotFoundException, in the shape of the other /api/v1 reads.
func TestEventsAPIErrors(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	if _, err := e.Server.Videos().CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	const ok = "start=2026-12-06T10:00:00Z&end=2026-12-06T10:00:10.5Z"
	for _, tc := range []struct {
		path, query string
		status      int
		code, msg   string
	}{
		{"cam/events", ok, 200, "", ""},
		{"cam/timeline", ok + "&timestampType=SERVER_TIMESTAMP&type=detection&label=person,car&limit=10", 200, "", ""},
		{"cam/events", "", 400, "InvalidArgumentException", "start and end must be RFC 3339 times"},
		{"cam/events", "start=2026-12-06T10:00:00Z&end=later", 400, "InvalidArgumentException", "start and end must be RFC 3339 times"},
		{"cam/events", "start=2026-12-06T10:00:10Z&end=2026-12-06T10:00:00Z", 400, "InvalidArgumentException", "end must be after start"},
		{"cam/timeline", "start=2026-12-06T10:00:00Z&end=2026-12-06T10:00:00Z", 400, "InvalidArgumentException", "end must be after start"},
		{"cam/events", ok + "&timestampType=producer", 400, "InvalidArgumentException", "timestampType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP"},
		{"cam/events", ok + "&limit=0", 400, "InvalidArgumentException", "limit must be a whole number from 1 to 10000"},
		{"cam/timeline", ok + "&limit=10001", 400, "InvalidArgumentException", "limit must be a whole number from 1 to 10000"},
		{"cam/events", ok + "&limit=ten", 400, "InvalidArgumentException", "limit must be a whole number"},
		{"cam/events", ok + "&nextToken=garbage", 400, "InvalidArgumentException", "The page token is not one this range returned"},
		{"cam/timeline", ok + "&nextToken=garbage", 400, "InvalidArgumentException", "The page token is not one this range returned"},
		{"nosuch/events", ok, 404, "ResourceNotFoundException", "nosuch"},
		{"nosuch/timeline", ok, 404, "ResourceNotFoundException", "nosuch"},
		{"cam.events/events", ok, 400, "InvalidArgumentException", "reserved for the event streams"},
	} {
		t.Run(tc.path+"?"+tc.query, func(t *testing.T) {
			status, hdr, body := httpGet(t, e.URL+"/api/v1/streams/"+tc.path+"?"+tc.query)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, body, tc.status)
			}
			if tc.status == 200 {
				var v map[string]json.RawMessage
				if json.Unmarshal([]byte(body), &v) != nil || (v["events"] == nil && v["items"] == nil) || v["nextToken"] != nil {
					t.Fatalf("answer %s", body)
				}
				return
			}
			var v struct{ Message string }
			if json.Unmarshal([]byte(body), &v) != nil || hdr.Get("x-amzn-ErrorType") != tc.code || !strings.Contains(v.Message, tc.msg) {
				t.Fatalf("%d %s %s, want %s %q", status, hdr.Get("x-amzn-ErrorType"), body, tc.code, tc.msg)
			}
		})
	}
}

// TestEventsAPIAuth: with credentials the event reads need a UI session
// whose identity holds kinesisvideo:ListFragments (or the UI's hls:read)
// on the stream.
func TestEventsAPIAuth(t *testing.T) {
	t.Parallel()
	const listKey, listSecret = "AKIDLIST", "listsecret1"
	e := servertest.Start(t, withAuth, func(c *server.Config) {
		c.Auth.FailureLimit = 0
		c.Auth.Credentials = append(c.Auth.Credentials, server.CredentialConfig{AccessKeyID: listKey, SecretAccessKey: listSecret,
			Allow: []server.AllowConfig{{Actions: []string{"kinesisvideo:ListFragments"}, Streams: []string{"cam-*"}}}})
	})
	for _, n := range []string{"cam-1", "lobby"} {
		if _, err := e.Server.Videos().CreateStream(n, fragments.CreateOptions{RetentionHours: 1}); err != nil {
			t.Fatal(err)
		}
	}
	const q = "?start=2026-12-06T10:00:00Z&end=2026-12-06T10:00:10Z"
	login := func(key, secret string) *uiClient {
		c := newUIClient(t, e.URL)
		if st, _, b := c.do("POST", "/api/v1/ui/login", loginBody(key, secret)); st != 200 {
			t.Fatalf("login %s: %d %s", key, st, b)
		}
		return c
	}
	anon := newUIClient(t, e.URL)
	for _, tc := range []struct {
		who    string
		c      *uiClient
		stream string
		status int
	}{
		{"no session", anon, "cam-1", http.StatusUnauthorized},
		{"hls:read", login(viewKey, viewSecret), "cam-1", 200},
		{"hls:read, another stream", login(viewKey, viewSecret), "lobby", http.StatusForbidden},
		{"kinesisvideo:ListFragments", login(listKey, listSecret), "cam-1", 200},
		{"kinesisvideo:ListFragments, another stream", login(listKey, listSecret), "lobby", http.StatusForbidden},
		{"webrtc only", login(otherKey, otherSecret), "cam-1", http.StatusForbidden},
	} {
		for _, ep := range []string{"events", "timeline"} {
			st, hdr, b := tc.c.do("GET", "/api/v1/streams/"+tc.stream+"/"+ep+q, "")
			if st != tc.status {
				t.Errorf("%s: %s of %s: %d %s, want %d", tc.who, ep, tc.stream, st, b, tc.status)
			}
			if st == http.StatusForbidden && (hdr.Get("x-amzn-ErrorType") != "AccessDeniedException" || !strings.Contains(b, "kinesisvideo:ListFragments")) {
				t.Errorf("%s: %s of %s: %s %s", tc.who, ep, tc.stream, hdr.Get("x-amzn-ErrorType"), b)
			}
		}
	}
}
