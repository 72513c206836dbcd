package server_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// The identities of the reload tests: a camera, a viewer that watches
// through every reload, and an operator whose secret (in a file) is
// rotated.
const (
	rlCamKey, rlCamSecret     = "AKIDRLCAM", "rl-cam-secret"
	rlViewKey, rlViewSecret   = "AKIDRLVIEW", "rl-view-secret"
	rlOpKey, rlOpOld, rlOpNew = "AKIDRLOP", "rl-op-secret-old", "rl-op-secret-new"
)

// withReloadIdentities configures them, the operator's secret read from
// secretFile.
func withReloadIdentities(secretFile string) func(*server.Config) {
	return func(c *server.Config) {
		c.Auth.FailureLimit = 0
		c.Auth.Credentials = []server.CredentialConfig{
			{AccessKeyID: rlCamKey, SecretAccessKey: rlCamSecret, Allow: []server.AllowConfig{{Actions: []string{"rtsp:publish"}, Streams: []string{"cam-*"}}}},
			{AccessKeyID: rlViewKey, SecretAccessKey: rlViewSecret, Allow: []server.AllowConfig{{Actions: []string{"rtsp:read", "kinesisvideo:GetHLSStreamingSessionURL"}, Streams: []string{"*"}}}},
			{AccessKeyID: rlOpKey, SecretAccessKeyFile: secretFile, Allow: []server.AllowConfig{{Actions: []string{"kinesisvideo:*", "kinesis:*", "eddy:admin", "rtsp:read"}, Streams: []string{"*"}}}},
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadCredentials rotates a secret (its file rewritten) while a
// viewer of another identity watches over RTSP and over LIVE HLS: the
// viewers and the camera go on, the old secret is refused and the new one
// accepted, and the token and HLS session issued with the old secret end.
// Removing an identity and rotating the metrics token work the same way.
func TestReloadCredentials(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "op.secret")
	writeFile(t, secretFile, rlOpOld+"\n")
	e := servertest.Start(t, withReloadIdentities(secretFile), func(c *server.Config) { c.Auth.MetricsToken = "scrape-1" })
	ctx := servertest.Context(t, time.Minute)
	cam := startPublisher(t, withUser(e.RTSPURL("cam-1"), rlCamKey, rlCamSecret), nil)
	waitHub(t, e, "cam-1")
	viewer := startReader(t, withUser(e.RTSPURL("cam-1"), rlViewKey, rlViewSecret), nil)
	viewer.watching(t, "before the rotation")
	hlsViewer := startHLSViewer(t, liveHLS(t, e, aws.Credentials{AccessKeyID: rlViewKey, SecretAccessKey: rlViewSecret}, "cam-1"))
	hlsViewer.watching(t, "over HLS before the rotation")
	opHLS := liveHLS(t, e, aws.Credentials{AccessKeyID: rlOpKey, SecretAccessKey: rlOpOld}, "cam-1")

	listAs := func(secret string) error {
		kv := e.KinesisVideo(kvAs(aws.Credentials{AccessKeyID: rlOpKey, SecretAccessKey: secret}))
		_, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
		return err
	}
	if err := listAs(rlOpOld); err != nil {
		t.Fatalf("ListStreams with the secret in force: %v", err)
	}
	token := issueToken(t, e.Server.Auth(), rlOpKey, "*", time.Hour, "eddy:admin")
	metrics := func(bearer string) int {
		req, _ := http.NewRequest("GET", e.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := metrics(token); code != 200 {
		t.Fatalf("/metrics with the operator's token: %d", code)
	}

	writeFile(t, secretFile, rlOpNew+"\n")
	res := reload(t, e, func(c *server.Config) { c.Auth.MetricsToken = "scrape-2" })
	wantChange(t, res, "auth.credentials[AKIDRLOP]: secret replaced")
	wantChange(t, res, "auth.metrics_token: replaced")
	if err := listAs(rlOpOld); apiCode(err) != "InvalidSignatureException" {
		t.Fatalf("ListStreams with the old secret: %v, want InvalidSignatureException", err)
	}
	if err := listAs(rlOpNew); err != nil {
		t.Fatalf("ListStreams with the new secret: %v", err)
	}
	for _, c := range []struct {
		what, bearer string
		want         int
	}{{"the token issued with the old secret", token, 401}, {"the old metrics token", "scrape-1", 401}, {"the new metrics token", "scrape-2", 200}} {
		if code := metrics(c.bearer); code != c.want {
			t.Errorf("/metrics with %s: %d, want %d", c.what, code, c.want)
		}
	}
	if st, _, body := httpGet(t, opHLS); st != http.StatusForbidden {
		t.Errorf("the HLS session opened with the old secret: %d %s, want 403", st, body)
	}
	viewer.watching(t, "after the rotation")
	hlsViewer.watching(t, "over HLS after the rotation")
	cam.running(t, "after the rotation")

	// The operator removed: refused on every protocol, the others go on.
	res = reload(t, e, func(c *server.Config) { c.Auth.Credentials = c.Auth.Credentials[:2] })
	wantChange(t, res, "auth.credentials[AKIDRLOP]: removed")
	if err := listAs(rlOpNew); apiCode(err) != "UnrecognizedClientException" {
		t.Fatalf("ListStreams of a removed identity: %v, want UnrecognizedClientException", err)
	}
	if _, err := gortsplibPlay(withUser(e.RTSPURL("cam-1"), rlOpKey, rlOpNew), nil); rtspStatus(err) != 401 {
		t.Fatalf("RTSP read of a removed identity: %v, want 401", err)
	}
	viewer.watching(t, "after the removal")
	hlsViewer.watching(t, "over HLS after the removal")
	cam.running(t, "after the removal")
}

// liveHLS opens a LIVE HLS session on a stream as creds, once the stream
// has fragments, and returns its URL.
func liveHLS(t *testing.T, e *servertest.Env, creds aws.Credentials, stream string) string {
	t.Helper()
	ctx := servertest.Context(t, time.Minute)
	am := e.ArchivedMedia(amAs(creds))
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var out *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
		if out, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream)}); err == nil {
			return *out.HLSStreamingSessionURL
		}
	}
	t.Fatalf("LIVE HLS session on %s as %s: %v", stream, creds.AccessKeyID, err)
	return ""
}

// waitHub waits for a publication.
func waitHub(t *testing.T, e *servertest.Env, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := e.Server.Registry().Hub(name); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publication of %s", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReloadCertificate replaces the certificate (new files, then the
// same files rewritten) while an RTSPS viewer watches and an HTTPS client
// keeps its connection: both go on, and new connections get the new
// certificate.
func TestReloadCertificate(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := servertest.SelfSignedCert(t)
	e := servertest.Start(t, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	pub := startPublisher(t, e.RTSPURL("door"), nil)
	waitHub(t, e, "door")
	viewer := startReader(t, e.RTSPSURL("door"), &tls.Config{RootCAs: pool})
	viewer.watching(t, "over RTSPS before the rotation")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	kept := &http.Client{Transport: tr}
	if n := reloadsCounted(t, e, kept, "", "applied"); n != 0 {
		t.Fatalf("%d reloads counted at start", n)
	}
	serial := func(addr string) string {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial(e.Server.HTTPAddr())

	// New files.
	certPEM, keyPEM, err := server.SelfSignedCertificate([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	newCert, newKey := filepath.Join(dir, "new.pem"), filepath.Join(dir, "new.key")
	writeFile(t, newCert, string(certPEM))
	writeFile(t, newKey, string(keyPEM))
	res := reload(t, e, func(c *server.Config) { c.TLSCert, c.TLSKey = newCert, newKey })
	wantChange(t, res, "tls_cert: reloaded from "+newCert)
	second := serial(e.Server.HTTPAddr())
	if second == first || serial(e.Server.RTSPSAddr()) != second {
		t.Fatalf("new connections get certificates %s (HTTPS) and %s (RTSPS), want the new one, not %s", second, serial(e.Server.RTSPSAddr()), first)
	}
	viewer.watching(t, "over RTSPS after the rotation")
	// The kept-alive connection trusts only the first certificate.
	if n := reloadsCounted(t, e, kept, "", "applied"); n != 1 {
		t.Fatalf("%d reloads counted, want 1", n)
	}

	// The same files rewritten: read again, without a change of names.
	certPEM, keyPEM, _ = server.SelfSignedCertificate([]string{"127.0.0.1"}, time.Hour)
	writeFile(t, newCert, string(certPEM))
	writeFile(t, newKey, string(keyPEM))
	res = reload(t, e, func(*server.Config) {})
	wantChange(t, res, "tls_cert: reloaded")
	if third := serial(e.Server.HTTPAddr()); third == second {
		t.Fatal("a certificate rewritten in place was not reloaded")
	}
	viewer.watching(t, "over RTSPS after the second rotation")
	pub.running(t, "after the rotations")
}

// TestReloadRefused: an invalid configuration (it does not validate, a
// secret file or the certificate cannot be read, a source names a
// reserved stream, the file does not parse) is refused as a whole and
// counted; the running configuration stays and the server goes on. A
// valid one whose source cannot start applies the rest.
func TestReloadRefused(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "op.secret")
	writeFile(t, secretFile, rlOpOld)
	certFile, keyFile, pool := servertest.SelfSignedCert(t)
	e := servertest.Start(t, withReloadIdentities(secretFile), func(c *server.Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.Auth.MetricsToken = "scrape"
	})
	cam := startPublisher(t, withUser(e.RTSPURL("cam-2"), rlCamKey, rlCamSecret), nil)
	waitHub(t, e, "cam-2")
	viewer := startReader(t, withUser(e.RTSPSURL("cam-2"), rlViewKey, rlViewSecret), &tls.Config{RootCAs: pool})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	before := e.Server.RunningConfig()
	badKey := filepath.Join(t.TempDir(), "bad.key")
	writeFile(t, badKey, "not a key")
	source := server.SourceConfig{Stream: "cam-new", URL: "rtsp://127.0.0.1:1/x"}

	for _, c := range []struct {
		name   string
		mutate func(*server.Config)
		says   string
	}{
		{"does not validate", func(c *server.Config) { c.Video.MaxFragmentDuration = 0 }, "video.max_fragment_duration"},
		{"a secret file is missing", func(c *server.Config) { c.Auth.Credentials[2].SecretAccessKeyFile += ".gone" }, "secret_access_key_file"},
		{"a broken key", func(c *server.Config) { c.TLSKey = badKey }, "tls_key " + badKey},
		{"a reserved stream name", func(c *server.Config) { c.Video.Sources[0].Stream = "cam-new.events" }, "video.sources[0].stream"},
		{"an identity twice", func(c *server.Config) { c.Auth.Credentials = append(c.Auth.Credentials, c.Auth.Credentials[0]) }, "configured twice"},
	} {
		cfg := e.Server.RunningConfig()
		cfg.Video.Sources = []server.SourceConfig{source} // valid, and not applied either
		c.mutate(&cfg)
		_, err := e.Server.Reload(cfg)
		refused(t, c.name, err)
		if !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v does not name %s", c.name, err, c.says)
		}
	}
	_, err := e.Server.ReloadWith(func() (server.Config, error) {
		return server.Config{}, errors.New("config eddy.yaml: yaml: line 3: did not find expected key")
	})
	refused(t, "an unparsable file", err)
	if after := e.Server.RunningConfig(); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused reloads changed the running configuration:\n%+v\nwas\n%+v", after, before)
	}
	if _, err := e.Server.Videos().Describe("cam-new"); err == nil {
		t.Fatal("a refused reload created a source's stream")
	}
	if n := reloadsCounted(t, e, client, "scrape", "refused"); n != 6 {
		t.Fatalf("%d refused reloads counted, want 6", n)
	}
	viewer.watching(t, "after the refused reloads")
	cam.running(t, "after the refused reloads")

	// A source on a data stream's name cannot start; the rest applies.
	createStream(t, e.Kinesis(as(aws.Credentials{AccessKeyID: rlOpKey, SecretAccessKey: rlOpOld}), servertest.WithHTTPClient(client)), "taken", 1)
	cfg := e.Server.RunningConfig()
	cfg.Video.Sources = []server.SourceConfig{{Stream: "taken", URL: "rtsp://127.0.0.1:1/x"}, source}
	res, err := e.Server.Reload(cfg)
	var re *server.ReloadError
	if !errors.As(err, &re) || re.Refused || !strings.Contains(err.Error(), "video.sources taken") {
		t.Fatalf("a source that cannot start: %v, want a partial reload", err)
	}
	wantChange(t, res, "video.sources[cam-new]: added")
	if got := e.Server.RunningConfig().Video.Sources; len(got) != 1 || got[0].Stream != "cam-new" {
		t.Fatalf("sources in force %+v, want cam-new only (taken is tried again on the next reload)", got)
	}
	if n := reloadsCounted(t, e, client, "scrape", "partial"); n != 1 {
		t.Fatalf("%d partial reloads counted, want 1", n)
	}
	viewer.watching(t, "after the partial reload")
}
