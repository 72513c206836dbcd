package server_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// Test identities: a camera that publishes cam-* streams, a viewer that
// reads every stream. Secrets hold the characters AWS secrets do, which
// URLs must percent-encode.
const (
	camKey, camSecret       = "AKIDCAMERAS", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYcam"
	viewerKey, viewerSecret = "AKIDVIEWER", "je7MtGbClwBF/2Zp9Utk+h3yCo8nvbview"
)

// withCredentials configures the test identities.
func withCredentials(c *server.Config) {
	c.Auth.Credentials = []server.CredentialConfig{
		{AccessKeyID: camKey, SecretAccessKey: camSecret,
			Allow: []server.AllowConfig{{Actions: []string{"rtsp:publish"}, Streams: []string{"cam-*"}}}},
		{AccessKeyID: viewerKey, SecretAccessKey: viewerSecret,
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
		out, err := ffmpegPublish(ctx, withUser(e.RTSPSURL("cam-tls"), camKey, camSecret), 6*time.Second)
		if err != nil {
			err = fmt.Errorf("%w: %s", err, out)
		}
		done <- err
	}()
	mediatest.WaitFor(t, "the RTSPS publication", func() bool { _, ok := e.Server.Registry().Hub("cam-tls"); return ok })
	codecs, err := ffprobeCodecs(ctx, withUser(e.RTSPSURL("cam-tls"), viewerKey, viewerSecret))
	if err != nil || codecs != "h264 aac" {
		t.Fatalf("ffprobe over RTSPS: %v: %s", err, codecs)
	}
	// The same publication over plain RTSP.
	if codecs, err := ffprobeCodecs(ctx, withUser(e.RTSPURL("cam-tls"), viewerKey, viewerSecret)); err != nil || codecs != "h264 aac" {
		t.Fatalf("ffprobe over RTSP: %v: %s", err, codecs)
	}
	if codecs, err := ffprobeCodecs(ctx, e.RTSPSURL("cam-tls")); err == nil || !strings.Contains(codecs, "401") {
		t.Fatalf("ffprobe over RTSPS without credentials: %v: %s", err, codecs)
	}
	if err := <-done; err != nil {
		t.Fatalf("ffmpeg publish over RTSPS: %v", err)
	}
}
