package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// loopPublisher publishes the test clip to a URL, looping, until the
// test ends.
type loopPublisher struct{ done chan error }

func startPublisher(t *testing.T, u string, tlsConfig *tls.Config) *loopPublisher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &loopPublisher{done: make(chan error, 1)}
	go func() {
		p.done <- (&rtspclient.FilePublisher{URL: u, File: testClip, Loop: true, TLSConfig: tlsConfig}).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-p.done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("publisher of %s: %v", u, err)
		}
	})
	return p
}

// running fails t when the publisher has stopped.
func (p *loopPublisher) running(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- context.Canceled // for the cleanup
		t.Fatalf("%s: the publisher stopped: %v", what, err)
	default:
	}
}

// rtspReader plays a stream until the test ends, counting RTP packets
// and the gaps in their sequence numbers (a packet lost, or a session
// that started over).
type rtspReader struct {
	c       *gortsplib.Client
	packets atomic.Int64
	done    chan error

	mu   sync.Mutex
	seq  map[*description.Media]uint16 // the last sequence number per media
	gaps []string
}

// packet notes pkt of media m.
func (r *rtspReader) packet(m *description.Media, pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.seq[m]; ok && pkt.SequenceNumber != last+1 {
		r.gaps = append(r.gaps, fmt.Sprintf("%s: %d after %d", m.Type, pkt.SequenceNumber, last))
	}
	r.seq[m] = pkt.SequenceNumber
	r.packets.Add(1)
}

func startReader(t *testing.T, u string, tlsConfig *tls.Config) *rtspReader {
	t.Helper()
	pu, err := base.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	r := &rtspReader{c: &gortsplib.Client{Scheme: pu.Scheme, Host: pu.Host, TLSConfig: tlsConfig, Transport: &tcp}, done: make(chan error, 1), seq: map[*description.Media]uint16{}}
	if err := r.c.Start2(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.c.Close)
	desc, _, err := r.c.Describe(pu)
	if err == nil {
		err = r.c.SetupAll(desc.BaseURL, desc.Medias)
	}
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	r.c.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) { r.packet(m, pkt) })
	if _, err := r.c.Play(nil); err != nil {
		t.Fatalf("play %s: %v", u, err)
	}
	go func() { r.done <- r.c.Wait() }()
	return r
}

// watching fails t unless the reader is still playing in the session it
// started, receives packets, and has missed none.
func (r *rtspReader) watching(t *testing.T, what string) {
	t.Helper()
	from := r.packets.Load()
	deadline := time.Now().Add(10 * time.Second)
	for r.packets.Load() < from+30 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("%s: the reader's session ended: %v", what, err)
	default:
	}
	if n := r.packets.Load() - from; n < 30 {
		t.Fatalf("%s: the reader received %d packets in 10 s", what, n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.gaps) > 0 {
		t.Fatalf("%s: the reader's packets have gaps: %s", what, strings.Join(r.gaps, ", "))
	}
}

// ended waits until the reader's session ends.
func (r *rtspReader) ended(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the reader still plays", what)
	}
}

// reload applies mutate to the server's running configuration.
func reload(t *testing.T, e *servertest.Env, mutate func(*server.Config)) server.ReloadResult {
	t.Helper()
	cfg := e.Server.RunningConfig()
	mutate(&cfg)
	res, err := e.Server.Reload(cfg)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	return res
}

// wantChange fails t unless one of the changes starts with prefix.
func wantChange(t *testing.T, res server.ReloadResult, prefix string) {
	t.Helper()
	if !slices.ContainsFunc(res.Applied, func(c string) bool { return strings.HasPrefix(c, prefix) }) {
		t.Fatalf("no change %q among %q", prefix, res.Applied)
	}
}

// refused fails t unless err is a refused reload.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	var re *server.ReloadError
	if !errors.As(err, &re) || !re.Refused {
		t.Fatalf("%s: reload error %v, want a refusal", what, err)
	}
}

// reloadsCounted reads eddy_config_reloads_total{result} (bearer is the
// metrics token, "" without credentials).
func reloadsCounted(t *testing.T, e *servertest.Env, client *http.Client, bearer, result string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", e.URL+"/metrics", nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^eddy_config_reloads_total\{result="` + result + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("GET /metrics: %d, no eddy_config_reloads_total{result=%q}", resp.StatusCode, result)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// hlsViewer plays a LIVE HLS session until the test ends, as a player
// does: every 200 ms it reads the media playlist and the newest segment
// listed, and notes any answer other than 200.
type hlsViewer struct {
	mu    sync.Mutex
	segs  map[string]bool // segments read
	fails []string
}

func startHLSViewer(t *testing.T, sessionURL string) *hlsViewer {
	t.Helper()
	st, _, master := httpGet(t, sessionURL)
	uris := playlistURIs(sessionURL, master)
	if st != http.StatusOK || len(uris) == 0 {
		t.Fatalf("HLS master playlist: %d %s", st, master)
	}
	v := &hlsViewer{segs: map[string]bool{}}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 5 * time.Second}
		for tick := time.NewTicker(200 * time.Millisecond); ; {
			v.poll(client, uris[0])
			select {
			case <-tick.C:
			case <-stop:
				tick.Stop()
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return v
}

// poll reads the media playlist and its newest segment.
func (v *hlsViewer) poll(client *http.Client, mediaURL string) {
	get := func(u string) (string, error) {
		resp, err := client.Get(u)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
		}
		return string(b), err
	}
	playlist, err := get(mediaURL)
	var seg string
	if segs := playlistURIs(mediaURL, playlist); err == nil && len(segs) > 0 {
		seg = segs[len(segs)-1]
		_, err = get(seg)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.fails = append(v.fails, err.Error())
	} else if seg != "" {
		v.segs[seg] = true
	}
}

// watching fails t unless the viewer reads new segments and every read
// so far succeeded.
func (v *hlsViewer) watching(t *testing.T, what string) {
	t.Helper()
	count := func() (int, []string) {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.segs), slices.Clone(v.fails)
	}
	from, _ := count()
	deadline := time.Now().Add(15 * time.Second)
	for n, _ := count(); n < from+2 && time.Now().Before(deadline); n, _ = count() {
		time.Sleep(50 * time.Millisecond)
	}
	n, fails := count()
	if len(fails) > 0 {
		t.Fatalf("%s: the HLS viewer's reads failed: %s", what, strings.Join(fails, "; "))
	}
	if n < from+2 {
		t.Fatalf("%s: the HLS viewer read %d new segments in 15 s", what, n-from)
	}
}
