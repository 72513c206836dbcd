package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// TestTokenCommand gets a token with `eddy token`'s SigV4 request and
// plays a stream with it over WHEP; without a token, or with a wrong
// secret, nothing plays.
func TestTokenCommand(t *testing.T) {
	e := servertest.Start(t, func(c *server.Config) {
		c.Auth.Credentials = []server.CredentialConfig{
			{AccessKeyID: "AKIDCAM", SecretAccessKey: "camsecret1", Allow: []server.AllowConfig{{Actions: []string{"rtsp:publish"}, Streams: []string{"cam"}}}},
			{AccessKeyID: "AKIDVIEW", SecretAccessKey: "viewsecret1", Allow: []server.AllowConfig{{Actions: []string{"webrtc:read"}, Streams: []string{"cam*"}}}},
		}
	})
	ctx := servertest.Context(t, time.Minute)
	pub := &rtspclient.FilePublisher{URL: "rtsp://AKIDCAM:camsecret1@" + e.Server.RTSPAddr() + "/cam",
		File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Duration: 10 * time.Second}
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = pub.Run(pubCtx) }()
	for deadline := time.Now().Add(10 * time.Second); len(e.Server.Registry().Names()) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the publication did not start")
		}
	}

	noEnv := func(string) string { return "" }
	f := tokenFlags{clientFlags: clientFlags{endpoint: e.URL, region: "us-east-1", accessKeyID: "AKIDVIEW", secret: "wrongsecret"},
		stream: "cam", expires: "10m", actions: repeatedFlag{"webrtc:read"}}
	if err := f.resolve(ctx, noEnv); err != nil {
		t.Fatal(err)
	}
	if _, _, err := requestToken(ctx, &f); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("wrong secret: %v", err)
	}
	f.secret = "viewsecret1"
	if err := f.resolve(ctx, noEnv); err != nil {
		t.Fatal(err)
	}
	tok, expires, err := requestToken(ctx, &f)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("token of %d characters, expires %s", len(tok), expires)

	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := playWHEP(pctx, e.URL+"/webrtc/cam/whep", nil, true); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without a token: %v", err)
	}
	st, err := playWHEP(pctx, e.URL+"/webrtc/cam/whep", nil, true, whepclient.WithToken(tok))
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames < 20 || st.Ended != "stopped" {
		t.Fatalf("played %+v", *st)
	}
	t.Logf("played with the token: %d frames, first after %s", st.Frames, st.FirstFrame)
}
