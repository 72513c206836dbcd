package server_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// Test identities: a camera that publishes cam-* streams, a viewer that
// reads every stream. Secrets hold the characters AWS secrets do, which
// URLs must percent-encode.
const (
	rtspCamKey, rtspCamSecret       = "AKIDCAMERAS", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYcam"
	rtspViewerKey, rtspViewerSecret = "AKIDVIEWER", "je7MtGbClwBF/2Zp9Utk+h3yCo8nvbview"
)

// withCredentials configures the test identities.
func withCredentials(c *server.Config) {
	c.Auth.Credentials = []server.CredentialConfig{
		{AccessKeyID: rtspCamKey, SecretAccessKey: rtspCamSecret,
			Allow: []server.AllowConfig{{Actions: []string{"rtsp:publish"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: rtspViewerKey, SecretAccessKey: rtspViewerSecret,
			Allow: []server.AllowConfig{{Actions: []string{"rtsp:read"}, Streams: []string{"*"}}}},
	}
}

// withUser puts percent-encoded credentials into an rtsp:// or rtsps:// URL.
func withUser(u, user, secret string) string {
	scheme, rest, _ := strings.Cut(u, "://")
	enc := strings.NewReplacer("/", "%2F", "+", "%2B").Replace(secret)
	return scheme + "://" + user + ":" + enc + "@" + rest
}

// ffmpegPublish publishes d of the test clip to u over TCP.
func ffmpegPublish(ctx context.Context, u string, d time.Duration) ([]byte, error) {
	return exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-re", "-i", testClip, "-t", d.String(), "-c", "copy",
		"-f", "rtsp", "-rtsp_transport", "tcp", u).CombinedOutput()
}

// ffprobeCodecs lists the codecs ffprobe finds at u.
func ffprobeCodecs(ctx context.Context, u string) (string, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "stream=codec_name", "-of", "csv=p=0", u).CombinedOutput()
	return strings.Join(strings.Fields(string(out)), " "), err
}

// TestFFmpegRTSPS publishes and plays over RTSPS with ffmpeg (which does
// not verify certificates unless told to, so the self-signed one passes).
func TestFFmpegRTSPS(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	certFile, keyFile, _ := selfSignedCert(t)
	e := servertest.Start(t, withCredentials, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	ctx := servertest.Context(t, time.Minute)
	done := make(chan error, 1)
	go func() {
		out, err := ffmpegPublish(ctx, withUser(e.RTSPSURL("cam-tls"), rtspCamKey, rtspCamSecret), 6*time.Second)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		done <- err
	}()
	mediatest.WaitFor(t, "the RTSPS publication", func() bool { _, ok := e.Server.Registry().Hub("cam-tls"); return ok })
	codecs, err := ffprobeCodecs(ctx, withUser(e.RTSPSURL("cam-tls"), rtspViewerKey, rtspViewerSecret))
	if err != nil || codecs != "h264 aac" {
		t.Fatalf("ffprobe over RTSPS: %v: %s", err, codecs)
	}
	// The same publication over plain RTSP.
	if codecs, err := ffprobeCodecs(ctx, withUser(e.RTSPURL("cam-tls"), rtspViewerKey, rtspViewerSecret)); err != nil || codecs != "h264 aac" {
		t.Fatalf("ffprobe over RTSP: %v: %s", err, codecs)
	}
	if codecs, err := ffprobeCodecs(ctx, e.RTSPSURL("cam-tls")); err == nil || !strings.Contains(codecs, "401") {
		t.Fatalf("ffprobe over RTSPS without credentials: %v: %s", err, codecs)
	}
	if err := <-done; err != nil {
		t.Fatalf("ffmpeg publish over RTSPS: %v", err)
	}
}

// TestFFmpegRTSPAuth publishes with ffmpeg as a camera does
// (rtsp://AKID:SECRET@host/stream, Digest MD5) and reads with ffprobe and
// ffmpeg; wrong, missing and insufficient credentials are refused with
// the status ffmpeg reports.
func TestFFmpegRTSPAuth(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t, withCredentials)
	ctx := servertest.Context(t, time.Minute)
	url := e.RTSPURL("cam-1")

	for _, tc := range []struct {
		name, url, status string
	}{
		{"no credentials", url, "401"},
		{"wrong password", withUser(url, rtspCamKey, rtspViewerSecret), "401"},
		{"unknown key", withUser(url, "AKIDNOBODY", rtspCamSecret), "401"},
		{"read-only key", withUser(url, rtspViewerKey, rtspViewerSecret), "403"},
		{"key for other streams", withUser(e.RTSPURL("door-1"), rtspCamKey, rtspCamSecret), "403"},
	} {
		out, err := ffmpegPublish(ctx, tc.url, time.Second)
		if err == nil || !strings.Contains(string(out), tc.status) {
			t.Errorf("ffmpeg publish, %s: %v, want %s: %s", tc.name, err, tc.status, out)
		}
	}
	if _, ok := e.Server.Registry().Hub("cam-1"); ok {
		t.Fatal("a refused publisher holds the stream")
	}

	done := make(chan error, 1)
	go func() {
		out, err := ffmpegPublish(ctx, withUser(url, rtspCamKey, rtspCamSecret), 8*time.Second)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		done <- err
	}()
	mediatest.WaitFor(t, "the publication", func() bool { _, ok := e.Server.Registry().Hub("cam-1"); return ok })
	if codecs, err := ffprobeCodecs(ctx, withUser(url, rtspViewerKey, rtspViewerSecret)); err != nil || codecs != "h264 aac" {
		t.Fatalf("ffprobe with the viewer's key: %v: %s", err, codecs)
	}
	out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", withUser(url, rtspViewerKey, rtspViewerSecret),
		"-t", "2", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg play with the viewer's key: %v: %s", err, out)
	}
	for _, tc := range []struct {
		name, url, status string
	}{
		{"no credentials", url, "401"},
		{"wrong password", withUser(url, rtspViewerKey, rtspCamSecret), "401"},
		{"publish-only key", withUser(url, rtspCamKey, rtspCamSecret), "403"},
	} {
		if codecs, err := ffprobeCodecs(ctx, tc.url); err == nil || !strings.Contains(codecs, tc.status) {
			t.Errorf("ffprobe, %s: %v, want %s: %s", tc.name, err, tc.status, codecs)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("ffmpeg publish with the camera's key: %v", err)
	}
}

// rtspStatus is the status of a gortsplib client error (0: none).
func rtspStatus(err error) base.StatusCode {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return bad.Code
	}
	return 0
}

// gortsplibPlay plays u for a moment and returns how many RTP packets
// arrived.
func gortsplibPlay(u string, tlsConfig *tls.Config) (int64, error) {
	pu, err := base.ParseURL(u)
	if err != nil {
		return 0, err
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: pu.Scheme, Host: pu.Host, TLSConfig: tlsConfig, Transport: &tcp}
	if err := c.Start2(); err != nil {
		return 0, err
	}
	defer c.Close()
	desc, _, err := c.Describe(pu)
	if err != nil {
		return 0, err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		return 0, err
	}
	var n atomic.Int64
	c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { n.Add(1) })
	if _, err := c.Play(nil); err != nil {
		return 0, err
	}
	time.Sleep(time.Second)
	return n.Load(), nil
}

// rawDescribe sends one DESCRIBE with an Authorization header value on a
// new connection (TLS when tlsConfig is set).
func rawDescribe(u string, tlsConfig *tls.Config, authorization string) (*base.Response, error) {
	pu, err := base.ParseURL(u)
	if err != nil {
		return nil, err
	}
	var nc net.Conn
	if tlsConfig != nil {
		nc, err = tls.Dial("tcp", pu.Host, tlsConfig)
	} else {
		nc, err = net.Dial("tcp", pu.Host)
	}
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	c := conn.NewConn(nc)
	err = c.WriteRequest(&base.Request{Method: base.Describe, URL: pu, Header: base.Header{
		"CSeq": base.HeaderValue{"1"}, "Authorization": base.HeaderValue{authorization}}})
	if err != nil {
		return nil, err
	}
	return c.ReadResponse()
}

// TestGortsplibRTSPAuth publishes and plays with gortsplib's client (it
// takes Digest SHA-256) over RTSP and RTSPS with right, wrong, missing and
// insufficient credentials, and checks that Basic, refused unchecked on
// plain RTSP, is accepted over RTSPS.
func TestGortsplibRTSPAuth(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSignedCert(t)
	e := servertest.Start(t, withCredentials, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	ctx := servertest.Context(t, time.Minute)
	tlsConfig := &tls.Config{RootCAs: pool}
	publish := func(u string, d time.Duration) error {
		return (&rtspclient.FilePublisher{URL: u, File: testClip, Duration: d, TLSConfig: tlsConfig}).Run(ctx)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(rtspViewerKey+":"+rtspViewerSecret))

	for _, sc := range []struct {
		scheme    string
		url       func(string) string
		tlsConfig *tls.Config
		basic     base.StatusCode
	}{
		{"rtsp", e.RTSPURL, nil, base.StatusUnauthorized},
		{"rtsps", e.RTSPSURL, tlsConfig, base.StatusOK},
	} {
		t.Run(sc.scheme, func(t *testing.T) {
			u := sc.url("cam-" + sc.scheme)
			refused := []struct {
				name   string
				url    string
				status base.StatusCode
			}{
				{"no credentials", u, base.StatusUnauthorized},
				{"wrong password", withUser(u, rtspCamKey, "not-the-secret"), base.StatusUnauthorized},
				{"read-only key", withUser(u, rtspViewerKey, rtspViewerSecret), base.StatusForbidden},
			}
			for _, tc := range refused {
				if err := publish(tc.url, time.Second); rtspStatus(err) != tc.status {
					t.Errorf("publish, %s: %v, want %d", tc.name, err, tc.status)
				}
			}
			done := make(chan error, 1)
			go func() { done <- publish(withUser(u, rtspCamKey, rtspCamSecret), 5*time.Second) }()
			mediatest.WaitFor(t, "the publication", func() bool { _, ok := e.Server.Registry().Hub("cam-" + sc.scheme); return ok })

			refused[1].url = withUser(u, rtspViewerKey, rtspCamSecret)
			refused[2].name, refused[2].url = "publish-only key", withUser(u, rtspCamKey, rtspCamSecret)
			for _, tc := range refused {
				if _, err := gortsplibPlay(tc.url, tlsConfig); rtspStatus(err) != tc.status {
					t.Errorf("play, %s: %v, want %d", tc.name, err, tc.status)
				}
			}
			if n, err := gortsplibPlay(withUser(u, rtspViewerKey, rtspViewerSecret), tlsConfig); err != nil || n == 0 {
				t.Errorf("play with the viewer's key: %d packets, %v", n, err)
			}
			res, err := rawDescribe(u, sc.tlsConfig, basic)
			if err != nil || res.StatusCode != sc.basic {
				t.Errorf("DESCRIBE with Basic over %s: %v %v, want %d", sc.scheme, res, err, sc.basic)
			}
			if err := <-done; err != nil {
				t.Errorf("publish with the camera's key: %v", err)
			}
		})
	}
}

// TestGStreamerRTSPAuth plays with GStreamer's rtspsrc, which takes its
// credentials as properties: the right ones play, a wrong password is
// reported as Unauthorized.
func TestGStreamerRTSPAuth(t *testing.T) {
	mediatest.RequireTool(t, "gst-launch-1.0", "gst-inspect-1.0")
	if exec.Command("gst-inspect-1.0", "rtspsrc").Run() != nil {
		mediatest.Missing(t, "GStreamer's rtspsrc (gstreamer1.0-plugins-good) is not installed")
	}
	t.Parallel()
	e := servertest.Start(t, withCredentials)
	ctx := servertest.Context(t, time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- (&rtspclient.FilePublisher{URL: withUser(e.RTSPURL("cam-gst"), rtspCamKey, rtspCamSecret), File: testClip, Duration: 6 * time.Second}).Run(ctx)
	}()
	mediatest.WaitFor(t, "the publication", func() bool { _, ok := e.Server.Registry().Hub("cam-gst"); return ok })
	play := func(pass string) ([]byte, error) {
		return exec.CommandContext(ctx, "gst-launch-1.0", "rtspsrc", "location="+e.RTSPURL("cam-gst"),
			"user-id="+rtspViewerKey, "user-pw="+pass, "protocols=tcp", "!", "fakesink", "num-buffers=50").CombinedOutput()
	}
	if out, err := play(rtspViewerSecret); err != nil {
		t.Errorf("rtspsrc with the viewer's key: %v: %s", err, out)
	}
	if out, err := play("not-the-secret"); err == nil || !strings.Contains(string(out), "Unauthorized") {
		t.Errorf("rtspsrc with a wrong password: %v: %s", err, out)
	}
	if err := <-done; err != nil {
		t.Errorf("publish with the camera's key: %v", err)
	}
}
