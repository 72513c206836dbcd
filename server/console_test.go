package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/smithy-go"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// consoleStream is a row of GET /api/v1/streams, as the console reads it.
type consoleStream struct {
	Name           string
	State          string
	Live           bool
	BitrateBps     int64
	RetentionHours int
	LastActivity   *time.Time
	EventsToday    int
	MaxBytes       int64
	Source         *struct {
		URL, State, LastError string
		LastErrorAt           *time.Time
	}
}

func consoleStreams(t *testing.T, c *uiClient, query string) map[string]consoleStream {
	t.Helper()
	st, _, b := c.do("GET", "/api/v1/streams"+query, "")
	var rows []consoleStream
	if st != 200 || json.Unmarshal([]byte(b), &rows) != nil {
		t.Fatalf("streams%s: %d %s", query, st, b)
	}
	out := map[string]consoleStream{}
	for _, r := range rows {
		out[r.Name] = r
	}
	return out
}

// waitStream polls the stream list until ok holds for name's row.
func waitStream(t *testing.T, c *uiClient, name string, within time.Duration, ok func(consoleStream) bool) consoleStream {
	t.Helper()
	var row consoleStream
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if row = consoleStreams(t, c, "")[name]; ok(row) {
			return row
		}
	}
	t.Fatalf("stream %s: %+v", name, row)
	return row
}

// consoleStatus is GET /api/v1/ui/status.
type consoleStatus struct {
	Version   string
	StartedAt time.Time
	DataDir   string
	Disk      struct{ UsedBytes, FreeBytes, TotalBytes, MinFreeBytes int64 }
	Sessions  map[string]int
	Streams   map[string]int
	Sources   []struct{ Stream, URL, State, LastError string }
	Errors    []struct {
		Time           time.Time
		Level, Message string
		Attrs          map[string]string
	}
}

func getStatus(t *testing.T, c *uiClient) consoleStatus {
	t.Helper()
	st, _, b := c.do("GET", "/api/v1/ui/status", "")
	var s consoleStatus
	if st != 200 || json.Unmarshal([]byte(b), &s) != nil {
		t.Fatalf("status: %d %s", st, b)
	}
	return s
}

// TestConsoleStreamList: the stream list's state, live-only bitrate, last
// activity, events since a time, size cap and pull source, through a
// real RTSP publication, events written with PutRecords and a source
// whose camera does not answer; and the status page's numbers.
func TestConsoleStreamList(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) {
		c.Video.Sources = []server.SourceConfig{{Stream: "door", URL: "rtsp://user:pw@127.0.0.1:1/door"}}
	})
	ctx := servertest.Context(t, 2*time.Minute)
	c := newUIClient(t, e.URL)
	if st, _, b := c.do("GET", "/api/v1/ui/session", ""); st != 200 || !strings.Contains(b, `"canCreate":true`) || !strings.Contains(b, `"admin":true`) {
		t.Errorf("open session: %d %s", st, b)
	}
	if _, err := e.Server.Videos().CreateStream("idle", fragments.CreateOptions{RetentionHours: 3, Tags: map[string]string{"eddy:max-bytes": "1048576"}}); err != nil {
		t.Fatal(err)
	}
	idle := consoleStreams(t, c, "")["idle"]
	if idle.State != "empty" || idle.Live || idle.BitrateBps != 0 || idle.LastActivity != nil || idle.MaxBytes != 1048576 || idle.Source != nil || idle.EventsToday != 0 {
		t.Errorf("a stream never published: %+v", idle)
	}

	// Live: a bitrate; then offline: none, and when it last recorded.
	stop := publishLive(ctx, t, e, "cam", 30*time.Second)
	live := waitStream(t, c, "cam", 15*time.Second, func(r consoleStream) bool { return r.State == "live" && r.BitrateBps > 0 })
	if live.MaxBytes != 0 || live.LastActivity == nil {
		t.Errorf("live: %+v", live)
	}
	if s := getStatus(t, c); s.Sessions["rtsp_publish"] != 1 || s.Streams["live"] < 1 {
		t.Errorf("status while publishing: sessions %v streams %v", s.Sessions, s.Streams)
	}
	// A pull source added by a reload, pulling cam from Eddy's own RTSP:
	// running while cam is published (its reads counted), retrying after.
	cfg := e.Server.RunningConfig()
	cfg.Video.Sources = append(cfg.Video.Sources, server.SourceConfig{Stream: "relay", URL: e.RTSPURL("cam")})
	if _, err := e.Server.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	relay := waitStream(t, c, "relay", 15*time.Second, func(r consoleStream) bool { return r.Source != nil && r.Source.State == "running" && r.State == "live" })
	if relay.Source.URL != e.RTSPURL("cam") || relay.Source.LastError != "" {
		t.Errorf("relay: %+v", *relay.Source)
	}
	if s := getStatus(t, c); s.Sessions["rtsp_read"] != 1 || s.Sessions["rtsp_publish"] != 1 {
		t.Errorf("status while relaying: sessions %v", s.Sessions)
	}
	time.Sleep(2 * time.Second) // a few fragments more
	stop()
	relay = waitStream(t, c, "relay", 15*time.Second, func(r consoleStream) bool { return r.Source.State != "running" && r.Source.LastError != "" })
	if relay.Source.LastErrorAt == nil || relay.State == "live" {
		t.Errorf("relay after cam stopped: %+v %+v", relay, *relay.Source)
	}
	off := waitStream(t, c, "cam", 10*time.Second, func(r consoleStream) bool { return r.State == "offline" })
	if off.BitrateBps != 0 || off.Live || off.LastActivity == nil || time.Since(*off.LastActivity) > time.Minute || off.LastActivity.After(time.Now()) {
		t.Errorf("offline: %+v", off)
	}

	// Events: three now, one two days ago; by default the last 24 h count.
	now := time.Now().UTC()
	var evs [][]byte
	for _, at := range []time.Time{now.Add(-time.Minute), now.Add(-time.Hour), now.Add(-2 * time.Hour), now.Add(-48 * time.Hour)} {
		evs = append(evs, fmt.Appendf(nil, `{"type":"detection","label":"person","time":%q}`, at.Format(time.RFC3339Nano)))
	}
	evs = append(evs, []byte(`not an event`)) // stored, not on the timeline
	putEvents(ctx, t, e.Kinesis(), "cam", evs)
	if n := consoleStreams(t, c, "")["cam"].EventsToday; n != 3 {
		t.Errorf("events of the last 24 h: %d, want 3", n)
	}
	since := url.QueryEscape(now.Add(-72 * time.Hour).Format(time.RFC3339))
	if n := consoleStreams(t, c, "?eventsSince="+since)["cam"].EventsToday; n != 4 {
		t.Errorf("events of the last 3 days: %d, want 4", n)
	}
	since = url.QueryEscape(now.Add(-90 * time.Minute).In(time.FixedZone("", 5*3600)).Format(time.RFC3339))
	if n := consoleStreams(t, c, "?eventsSince="+since)["cam"].EventsToday; n != 2 {
		t.Errorf("events of the last 90 min (in +05:00): %d, want 2", n)
	}
	for _, q := range []string{"yesterday", url.QueryEscape(now.Add(-8 * 24 * time.Hour).Format(time.RFC3339))} {
		if st, _, b := c.do("GET", "/api/v1/streams?eventsSince="+q, ""); st != 400 || !strings.Contains(b, "eventsSince") {
			t.Errorf("eventsSince=%s: %d %s", q, st, b)
		}
	}

	// The source's camera refuses connections: retrying, with the error.
	door := waitStream(t, c, "door", 15*time.Second, func(r consoleStream) bool { return r.Source != nil && r.Source.LastError != "" })
	if s := door.Source; s.URL != "rtsp://xxxxx@127.0.0.1:1/door" || (s.State != "retrying" && s.State != "connecting") || s.LastErrorAt == nil ||
		time.Since(*s.LastErrorAt) > time.Minute || !strings.Contains(s.LastError, "refused") || door.State != "empty" {
		t.Errorf("door: %+v %+v", door, *s)
	}

	// Status: the source, its warning, and disk numbers that agree with
	// the filesystem and the data directory.
	s := getStatus(t, c)
	if len(s.Sources) != 2 || s.Sources[0].Stream != "door" || s.Sources[1].Stream != "relay" || s.Sources[0].URL != "rtsp://xxxxx@127.0.0.1:1/door" || s.Sources[0].LastError == "" {
		t.Errorf("sources: %+v", s.Sources)
	}
	warned := false
	for _, r := range s.Errors {
		if r.Level == "WARN" && strings.Contains(r.Message, "source stopped") && r.Attrs["stream"] == "door" && strings.Contains(r.Attrs["error"], "refused") {
			warned = true
		}
	}
	if !warned || len(s.Errors) > 50 {
		t.Errorf("the source's warning is not among the %d recent errors: %+v", len(s.Errors), s.Errors)
	}
	for i := 1; i < len(s.Errors); i++ {
		if s.Errors[i].Time.After(s.Errors[i-1].Time) {
			t.Errorf("errors not newest first: %v then %v", s.Errors[i-1].Time, s.Errors[i].Time)
		}
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(e.Dir, &sfs); err != nil {
		t.Fatal(err)
	}
	var files int64
	_ = filepath.WalkDir(e.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				files += fi.Size()
			}
		}
		return nil
	})
	st, _ := e.Server.Videos().Store("cam")
	if d := s.Disk; d.TotalBytes != int64(sfs.Blocks)*sfs.Bsize || d.FreeBytes <= 0 || d.FreeBytes > d.TotalBytes ||
		d.UsedBytes < st.Size() || d.UsedBytes > files || d.MinFreeBytes <= 0 || d.MinFreeBytes > d.TotalBytes {
		t.Errorf("disk %+v; statfs total %d; files %d; cam's store %d", d, int64(sfs.Blocks)*sfs.Bsize, files, st.Size())
	}
	if free := int64(sfs.Bavail) * sfs.Bsize; s.Disk.FreeBytes > free+1<<30 || s.Disk.FreeBytes < free-1<<30 {
		t.Errorf("free %d, statfs %d", s.Disk.FreeBytes, free)
	}
	if s.Version == "" || s.DataDir != e.Dir || time.Since(s.StartedAt) > 2*time.Minute || s.Streams["video"] != 4 {
		t.Errorf("status: version %q dir %q started %v streams %v", s.Version, s.DataDir, s.StartedAt, s.Streams)
	}
	for _, p := range []string{"rtsp_publish", "rtsp_read", "webrtc_whep", "webrtc_whip", "hls", "getmedia", "putmedia"} {
		if _, ok := s.Sessions[p]; !ok {
			t.Errorf("sessions lack %s: %v", p, s.Sessions)
		}
	}

	// Endpoints: the listeners' ports under the host the page came from.
	_, rtspPort, _ := strings.Cut(e.Server.RTSPAddr(), ":")
	_, httpPort, _ := strings.Cut(e.Server.HTTPAddr(), ":")
	for _, host := range []string{"", "camera-box.local"} {
		req, _ := http.NewRequest("GET", e.URL+"/api/v1/ui/endpoints", nil)
		want := "127.0.0.1"
		if host != "" {
			req.Host, want = host+":"+httpPort, host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var ep map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(b, &ep) != nil || ep["rtsp"] != "rtsp://"+want+":"+rtspPort ||
			ep["http"] != "http://"+want+":"+httpPort || ep["rtsps"] != "" || ep["auth"] != false {
			t.Errorf("endpoints (host %q): %d %s", host, resp.StatusCode, b)
		}
	}
}

// TestConsoleKVS: the console's control plane runs the Kinesis Video
// operations with the session's identity: an administrator creates,
// changes and deletes a stream (size cap tag included); a viewer is
// refused as its SDK call is; another site's page, no session and an
// operation the console does not serve are refused; the status page
// needs eddy:admin.
func TestConsoleKVS(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, withAuth, func(c *server.Config) { c.Auth.FailureLimit = 0 })
	ctx := servertest.Context(t, time.Minute)
	anon := newUIClient(t, e.URL)
	if st, hdr, b := anon.do("POST", "/api/v1/ui/kinesisvideo/ListStreams", `{}`); st != 401 || hdr.Get("x-amzn-ErrorType") == "" {
		t.Errorf("without a session: %d %v %s", st, hdr, b)
	}
	for _, p := range []string{"/api/v1/ui/status", "/api/v1/ui/endpoints"} {
		if st, _, b := anon.do("GET", p, ""); st != 401 {
			t.Errorf("%s without a session: %d %s", p, st, b)
		}
	}
	login := func(key, secret string) *uiClient {
		c := newUIClient(t, e.URL)
		if st, _, b := c.do("POST", "/api/v1/ui/login", loginBody(key, secret)); st != 200 {
			t.Fatalf("login %s: %d %s", key, st, b)
		}
		return c
	}
	admin, viewer := login(adminKey, adminSecret), login(viewKey, viewSecret)
	for _, tc := range []struct {
		c    *uiClient
		want string
	}{{admin, `"canCreate":true,"admin":true`}, {viewer, `"canCreate":false,"admin":false`}} {
		if st, _, b := tc.c.do("GET", "/api/v1/ui/session", ""); st != 200 || !strings.Contains(b, tc.want) {
			t.Errorf("session: %d %s, want %s", st, b, tc.want)
		}
	}

	// The administrator manages a stream through the console.
	kvs := func(c *uiClient, op, body string, hdr ...string) (int, http.Header, map[string]any) {
		t.Helper()
		st, h, b := c.do("POST", "/api/v1/ui/kinesisvideo/"+op, body, hdr...)
		var out map[string]any
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			t.Fatalf("%s: %d %q", op, st, b)
		}
		return st, h, out
	}
	st, _, out := kvs(admin, "CreateStream", `{"StreamName":"cam-new","DataRetentionInHours":2,"Tags":{"eddy:max-bytes":"5000000"}}`)
	arn := fmt.Sprint(out["StreamARN"])
	if st != 200 || !strings.HasPrefix(arn, "arn:aws:kinesisvideo:") {
		t.Fatalf("CreateStream: %d %v", st, out)
	}
	if row := consoleStreams(t, admin, "")["cam-new"]; row.MaxBytes != 5000000 || row.RetentionHours != 2 || row.State != "empty" {
		t.Errorf("the new stream: %+v", row)
	}
	_, _, out = kvs(admin, "DescribeStream", `{"StreamName":"cam-new"}`)
	info, _ := out["StreamInfo"].(map[string]any)
	ver := fmt.Sprint(info["Version"])
	if st, _, out := kvs(admin, "UpdateDataRetention", fmt.Sprintf(`{"StreamName":"cam-new","CurrentVersion":%q,"Operation":"INCREASE_DATA_RETENTION","DataRetentionChangeInHours":3}`, ver)); st != 200 {
		t.Errorf("UpdateDataRetention: %d %v", st, out)
	}
	if st, _, _ := kvs(admin, "UntagStream", `{"StreamName":"cam-new","TagKeyList":["eddy:max-bytes"]}`); st != 200 {
		t.Errorf("UntagStream: %d", st)
	}
	if row := consoleStreams(t, admin, "")["cam-new"]; row.RetentionHours != 5 || row.MaxBytes != 0 {
		t.Errorf("after UpdateDataRetention and UntagStream: %+v", row)
	}
	// The SDK sees what the console did.
	kv := e.KinesisVideo(kvAs(aws.Credentials{AccessKeyID: adminKey, SecretAccessKey: adminSecret}))
	d, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam-new")})
	if err != nil || aws.ToInt32(d.StreamInfo.DataRetentionInHours) != 5 {
		t.Fatalf("DescribeStream by the SDK: %v", err)
	}

	// The viewer is refused as its signed call is: same status, type, message.
	st, hdr, vout := kvs(viewer, "CreateStream", `{"StreamName":"cam-viewer"}`)
	_, sdkErr := e.KinesisVideo(kvAs(aws.Credentials{AccessKeyID: viewKey, SecretAccessKey: viewSecret})).
		CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam-viewer")})
	var ae smithy.APIError
	if !errors.As(sdkErr, &ae) || st != 403 || hdr.Get("x-amzn-ErrorType") != "AccessDeniedException" || ae.ErrorCode() != "AccessDeniedException" ||
		vout["message"] != ae.ErrorMessage() || !strings.Contains(ae.ErrorMessage(), "kinesisvideo:CreateStream") {
		t.Errorf("the viewer's CreateStream: console %d %s %v; SDK %v", st, hdr.Get("x-amzn-ErrorType"), vout, sdkErr)
	}
	if _, err := e.Server.Videos().Describe("cam-viewer"); err == nil {
		t.Error("the viewer created a stream")
	}

	// Another site's page, and operations the console does not serve.
	if st, hdr, out := kvs(admin, "DeleteStream", fmt.Sprintf(`{"StreamARN":%q}`, arn), "Origin", "http://evil.example"); st != 403 || hdr.Get("x-amzn-ErrorType") != "AccessDeniedException" {
		t.Errorf("DeleteStream from another site: %d %v", st, out)
	}
	if _, err := e.Server.Videos().Describe("cam-new"); err != nil {
		t.Errorf("another site's page deleted the stream: %v", err)
	}
	for _, op := range []string{"GetClip", "PutMedia", "Nope"} {
		if st, hdr, out := kvs(admin, op, `{"StreamName":"cam-new"}`); st != 404 || hdr.Get("x-amzn-ErrorType") != "UnknownOperationException" {
			t.Errorf("%s: %d %v", op, st, out)
		}
	}
	if st, hdr, out := kvs(admin, "DescribeStream", `{"StreamName":"nope"}`); st != 404 || hdr.Get("x-amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("DescribeStream of a missing stream: %d %v", st, out)
	}
	if st, _, out := kvs(admin, "DeleteStream", fmt.Sprintf(`{"StreamARN":%q}`, arn)); st != 200 {
		t.Errorf("DeleteStream: %d %v", st, out)
	}
	if _, err := e.Server.Videos().Describe("cam-new"); err == nil {
		t.Error("the stream is still there")
	}

	// The status page and the endpoints.
	if st, _, b := viewer.do("GET", "/api/v1/ui/status", ""); st != 403 || !strings.Contains(b, viewKey+" needs eddy:admin to see the server's status") || strings.Contains(b, "stream") {
		t.Errorf("status as the viewer: %d %s", st, b)
	}
	if s := getStatus(t, admin); s.Streams == nil || s.Sessions == nil {
		t.Errorf("status as the administrator: %+v", s)
	}
	if st, _, b := viewer.do("GET", "/api/v1/ui/endpoints", ""); st != 200 || !strings.Contains(b, `"auth":true`) {
		t.Errorf("endpoints: %d %s", st, b)
	}
}

// TestConsoleKVSListStreams: the console's ListStreams shows a restricted
// identity only the streams its rules match, as its signed call does.
func TestConsoleKVSListStreams(t *testing.T) {
	t.Parallel()
	const listKey, listSecret = "AKIDLISTER", "lister-secret-key"
	e := servertest.Start(t, withAuth, func(c *server.Config) {
		c.Auth.FailureLimit = 0
		c.Auth.Credentials = append(c.Auth.Credentials, server.CredentialConfig{AccessKeyID: listKey, SecretAccessKey: listSecret,
			Allow: []server.AllowConfig{{Actions: []string{"kinesisvideo:ListStreams", "hls:read"}, Streams: []string{"cam-*"}}}})
	})
	ctx := servertest.Context(t, time.Minute)
	for _, name := range []string{"cam-a", "cam-b", "door", "yard"} {
		if _, err := e.Server.Videos().CreateStream(name, fragments.CreateOptions{RetentionHours: 1}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(c *uiClient) []string {
		t.Helper()
		st, _, b := c.do("POST", "/api/v1/ui/kinesisvideo/ListStreams", `{}`)
		var out struct{ StreamInfoList []struct{ StreamName string } }
		if st != 200 || json.Unmarshal([]byte(b), &out) != nil {
			t.Fatalf("ListStreams: %d %s", st, b)
		}
		var ns []string
		for _, s := range out.StreamInfoList {
			ns = append(ns, s.StreamName)
		}
		return ns
	}
	lister := newUIClient(t, e.URL)
	if st, _, b := lister.do("POST", "/api/v1/ui/login", loginBody(listKey, listSecret)); st != 200 {
		t.Fatalf("login: %d %s", st, b)
	}
	admin := newUIClient(t, e.URL)
	if st, _, b := admin.do("POST", "/api/v1/ui/login", loginBody(adminKey, adminSecret)); st != 200 {
		t.Fatalf("login: %d %s", st, b)
	}
	got := names(lister)
	if strings.Join(got, ",") != "cam-a,cam-b" {
		t.Errorf("the restricted identity's ListStreams: %v, want cam-a and cam-b only", got)
	}
	if all := names(admin); len(all) != 4 {
		t.Errorf("the administrator's ListStreams: %v", all)
	}
	// The signed call sees the same.
	out, err := e.KinesisVideo(kvAs(aws.Credentials{AccessKeyID: listKey, SecretAccessKey: listSecret})).ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var signed []string
	for _, s := range out.StreamInfoList {
		signed = append(signed, aws.ToString(s.StreamName))
	}
	if strings.Join(signed, ",") != strings.Join(got, ",") {
		t.Errorf("signed ListStreams %v, console %v", signed, got)
	}
}
