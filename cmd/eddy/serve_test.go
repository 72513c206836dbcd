package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "eddy.yaml")
	yaml := `
data: /from/file
http: 127.0.0.1:9000
rtsp: 127.0.0.1:9554
storage:
  sync: interval
  sync_interval: 250ms
  segment_size: 128MiB
  segment_duration: 2h
streams:
  retention_bytes: 500GB
  transition_delay: 1s
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EDDY_CONFIG": file, "EDDY_HTTP": "127.0.0.1:9100", "EDDY_SYNC_INTERVAL": "1s"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := loadConfig([]string{"--sync-interval", "2s", "--webrtc=127.0.0.1:9189"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"data (file)", cfg.Data, "/from/file"},
		{"http (env over file)", cfg.HTTP, "127.0.0.1:9100"},
		{"rtsp (file)", cfg.RTSP, "127.0.0.1:9554"},
		{"webrtc (flag)", cfg.WebRTC, "127.0.0.1:9189"},
		{"sync (file)", cfg.Storage.Sync, "interval"},
		{"sync_interval (flag over env over file)", cfg.Storage.SyncInterval.String(), "2s"},
		{"segment_size", cfg.Storage.SegmentSize.String(), "128MiB"},
		{"segment_duration", cfg.Storage.SegmentDuration.String(), "2h0m0s"},
		{"retention_bytes", cfg.Streams.RetentionBytes.String(), "500GB"},
		{"transition_delay", cfg.Streams.TransitionDelay.String(), "1s"},
		{"region (default)", cfg.Region, "us-east-1"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("htp: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown YAML key", []string{"--config", bad}, nil, "field htp not found"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "no such file"},
		{"bad env duration", nil, map[string]string{"EDDY_SYNC_INTERVAL": "soon"}, "EDDY_SYNC_INTERVAL"},
		{"unknown flag", []string{"--colour"}, nil, "flag provided but not defined"},
		{"stray argument", []string{"extra"}, nil, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookup := none
			if tc.env != nil {
				lookup = func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			}
			_, err := loadConfig(tc.args, lookup)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestConfigValidateSaysWhatToChange(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*server.Config)
		want   string
	}{
		{"network without credentials", func(c *server.Config) { c.HTTP = "0.0.0.0:8080" }, "insecure_allow_network"},
		{"half TLS", func(c *server.Config) { c.TLSCert = "cert.pem" }, "tls_cert and tls_key"},
		{"bad sync", func(c *server.Config) { c.Storage.Sync = "sometimes" }, "storage.sync"},
		{"tiny segments", func(c *server.Config) { c.Storage.SegmentSize = 1000 }, "storage.segment_size"},
		{"bad address", func(c *server.Config) { c.RTSP = "8554" }, "rtsp"},
		{"WebRTC on the network without credentials", func(c *server.Config) { c.WebRTC = "0.0.0.0:8189" }, "webrtc"},
		{"bad ICE server URL", func(c *server.Config) {
			c.WebRTCOptions.ICEServers = []server.ICEServerConfig{{URLs: []string{"http://stun.example.net"}}}
		}, "webrtc_options.ice_servers[0].urls"},
		{"keyframe interval beyond fragments", func(c *server.Config) { c.WebRTCOptions.KeyframeInterval = server.Duration(time.Minute) }, "keyframe_interval"},
		{"no pending sessions", func(c *server.Config) { c.WebRTCOptions.MaxPending = 0 }, "max_pending"},
		{"negative per-stream limit", func(c *server.Config) { c.Metrics.PerStreamLimit = -1 }, "metrics.per_stream_limit"},
		{"fragments beyond a Matroska cluster", func(c *server.Config) { c.Video.MaxFragmentDuration = server.Duration(45 * time.Second) }, "video.max_fragment_duration"},
		{"no write deadline", func(c *server.Config) { c.Limits.WriteTimeout = 0 }, "limits.write_timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want a message about %q", err, tc.want)
			}
		})
	}
	// Exposing Eddy explicitly is allowed.
	cfg := server.DefaultConfig()
	cfg.HTTP, cfg.InsecureAllowNetwork = "0.0.0.0:8080", true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHumanUnits(t *testing.T) {
	for in, want := range map[string]time.Duration{"100ms": 100 * time.Millisecond, "30d": 30 * 24 * time.Hour, "10y": 87600 * time.Hour, "1.5h": 90 * time.Minute, "2w": 14 * 24 * time.Hour} {
		d, err := server.ParseDuration(in)
		if err != nil || time.Duration(d) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, time.Duration(d), err, want)
		}
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "64MiB": 64 << 20, "500GB": 500e9, "1.5KiB": 1536, "2TiB": 2 << 40} {
		s, err := server.ParseSize(in)
		if err != nil || int64(s) != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, bad := range []string{"", "ten", "-5GB", "5 parsecs"} {
		if _, err := server.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
		if _, err := server.ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

// TestExampleNetworkConfig runs examples/network.yaml, with its files in a
// test directory and its listeners on loopback ports: the example is
// valid as written (any address, as it has credentials), and the server
// it describes serves HTTPS to a signed client only, and /metrics to the
// scrape token only.
func TestExampleNetworkConfig(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "network.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(example), "/etc/eddy/", dir+"/")
	text = strings.ReplaceAll(text, "/var/lib/eddy", filepath.Join(dir, "data"))
	file := filepath.Join(dir, "eddy.yaml")
	secrets := map[string]string{"cameras": "cameras-secret-1", "ml": "ml-secret-0001", "ops": "ops-secret-001", "scrape": "scrape-token-1"}
	for name, secret := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name+".secret"), []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := cert([]string{"--host", "eddy.example", "--cert", filepath.Join(dir, "cert.pem"), "--key", filepath.Join(dir, "key.pem")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, bool) { return "", false }
	cfg, err := loadConfig([]string{"--config", file}, none)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example is not valid: %v", err)
	}
	cfg.HTTP, cfg.RTSP, cfg.RTSPS, cfg.WebRTC = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.RTSPUDPRTP, cfg.RTSPUDPRTCP = "", ""
	e := servertest.StartConfig(t, cfg)
	if e.Server.RTSPSAddr() == "" {
		t.Fatal("no RTSPS listener")
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	ctx := servertest.Context(t, time.Minute)
	signed := func(key, secret string) *kinesis.Client {
		return e.Kinesis(servertest.WithHTTPClient(hc), servertest.NoRetries, func(o *kinesis.Options) {
			o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, nil
			})
		})
	}
	if _, err := signed("AKIDML", secrets["ml"]).ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("ListStreams as AKIDML: %v", err)
	}
	if _, err := signed("AKIDML", "not-the-secret").ListStreams(ctx, &kinesis.ListStreamsInput{}); err == nil || !strings.Contains(err.Error(), "InvalidSignatureException") {
		t.Fatalf("ListStreams with a wrong secret: %v", err)
	}
	for token, want := range map[string]int{secrets["scrape"]: 200, "": 401} {
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || resp.ProtoMajor != 2 {
			t.Errorf("/metrics with token %q: %d over %s, want %d over HTTP/2", token, resp.StatusCode, resp.Proto, want)
		}
	}
}
