package rtsp

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/conn"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// dialFrom opens a TCP connection to addr from the loopback address from
// (127.0.0.2, ...: Linux routes all of 127/8 to lo), so that a test can be
// several clients.
func dialFrom(addr, from string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return d.Dial("tcp", addr)
}

// closedAt returns a channel that receives when the server closes c
// (a read fails), draining what the server sends meanwhile.
func closedAt(c net.Conn) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		_, _ = io.Copy(io.Discard, c)
		ch <- time.Now()
	}()
	return ch
}

// slowloris sends an endless request on c one byte per every, as the
// attack does, until the connection fails.
func slowloris(c net.Conn, every time.Duration) {
	go func() {
		line := []byte("OPTIONS rtsp://127.0.0.1/cam RTSP/1.0\r\nCSeq: 1\r\nX-Pad: ")
		for i := 0; ; i++ {
			b := byte('a')
			if i < len(line) {
				b = line[i]
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(every)
		}
	}()
}

// attack opens n connections from from; slow makes each a slowloris,
// else they send nothing. It returns when each was closed, measured from
// now (or a failure to say it was not).
func attack(t *testing.T, addr, from string, n int, slow bool) []<-chan time.Time {
	t.Helper()
	var out []<-chan time.Time
	for range n {
		c, err := dialFrom(addr, from)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		floodMu.Lock()
		floodConns[t] = append(floodConns[t], c)
		floodMu.Unlock()
		if slow {
			slowloris(c, 50*time.Millisecond)
		}
		out = append(out, closedAt(c))
	}
	return out
}

// allClosedWithin waits for every connection of chans to be closed and
// returns the latest close, failing t if one lives past limit.
func allClosedWithin(t *testing.T, what string, start time.Time, chans []<-chan time.Time, limit time.Duration) time.Duration {
	t.Helper()
	var latest time.Duration
	deadline := time.After(time.Until(start.Add(limit)))
	for i, ch := range chans {
		select {
		case at := <-ch:
			latest = max(latest, at.Sub(start))
		case <-deadline:
			t.Fatalf("%s: connection %d of %d still open after %v", what, i+1, len(chans), limit)
		}
	}
	return latest
}

// TestRTSPConnectionsThatAuthenticateNothing reproduces the idle and
// slowloris attacks on a server with authentication: connections that
// send nothing, that send a request byte by byte, or that only send
// requests needing no credentials are all closed after AuthTimeout, while
// a camera that authenticated keeps publishing.
func TestRTSPConnectionsThatAuthenticateNothing(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	const authTimeout = 700 * time.Millisecond
	srv, _ := startAuthServer(t, reg, func(s *Server) { s.AuthTimeout, s.IdleTimeout = authTimeout, authTimeout })
	addr := srv.Addr()

	pub, err := startPublisher(t, userAt("AKIDCAM", "cam-secret/+3", addr), "cam1", gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	pubErr := make(chan error, 1)
	go func() {
		v := pub.tracks[0]
		for i := 0; ; i++ {
			select {
			case <-stop:
				pubErr <- nil
				return
			default:
			}
			if err := pub.write(v, int64(i)*mediatest.VideoTicks, videoNTP(i), mediatest.H264AU(i)); err != nil {
				pubErr <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	start := time.Now()
	chans := attack(t, addr, "127.0.0.2", 200, false)
	chans = append(chans, attack(t, addr, "127.0.0.3", 50, true)...)
	// OPTIONS needs no credentials: a client that only sends it proves
	// nothing, however often it asks.
	oc := dialRTSP(t, addr)
	optionsClosed := make(chan time.Time, 1)
	go func() {
		for {
			if _, err := oc.do(t, base.Options, "/cam1", ""); err != nil {
				optionsClosed <- time.Now()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	chans = append(chans, optionsClosed)
	latest := allClosedWithin(t, "unauthenticated", start, chans, authTimeout+2*time.Second)
	t.Logf("250 idle and slowloris connections and an OPTIONS loop closed within %v (AuthTimeout %v)", latest, authTimeout)
	if latest < authTimeout-50*time.Millisecond {
		t.Fatalf("closed after %v, before AuthTimeout", latest)
	}
	if got := testutil.ToFloat64(srv.metrics.timeouts.WithLabelValues("auth")); got != 251 {
		t.Fatalf("auth timeouts counted: %v, want 251", got)
	}
	// The camera, streaming over TCP for longer than both timeouts, stayed.
	close(stop)
	if err := <-pubErr; err != nil {
		t.Fatalf("the authenticated publisher was cut: %v", err)
	}
	if st := srv.ListenerState(); st.Open != 1 || !st.Accepting || st.Name != "rtsp" {
		t.Fatalf("listener state %+v, want the publisher's connection only", st)
	}
}

// TestRTSPIdleTimeout checks the deadline of proved connections (here
// without authentication: a whole request proves a connection): one that
// stops sending requests, or sends its next one byte by byte, is closed
// after IdleTimeout; keepalives, and players and publishers over TCP and
// UDP, stay for longer than that.
func TestRTSPIdleTimeout(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	tap := newHubTap(reg)
	const idle = 800 * time.Millisecond
	srv := &Server{Address: "127.0.0.1:0", UDPRTPAddress: "127.0.0.1:0", UDPRTCPAddress: "127.0.0.1:0",
		Registry: reg, Logger: mediatest.Logger(), AuthTimeout: idle, IdleTimeout: idle}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	addr := srv.Addr()

	quiet := dialRTSP(t, addr)
	if res, err := quiet.do(t, base.Options, "/", ""); err != nil || res.StatusCode != base.StatusOK {
		t.Fatal(res, err)
	}
	quietClosed := closedAt(quiet.nc)
	slow := dialRTSP(t, addr)
	if res, err := slow.do(t, base.Options, "/", ""); err != nil || res.StatusCode != base.StatusOK {
		t.Fatal(res, err)
	}
	slowClosed := closedAt(slow.nc)
	slowloris(slow.nc, 50*time.Millisecond)
	start := time.Now()

	keepalive := dialRTSP(t, addr)
	keepaliveErr := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(idle / 3):
			}
			if _, err := keepalive.do(t, base.Options, "/", ""); err != nil {
				keepaliveErr <- err
				return
			}
		}
	}()
	defer close(stop)

	var sent [2]atomic.Int64
	for i, transport := range []gortsplib.Transport{gortsplib.TransportTCP, gortsplib.TransportUDP} {
		name := fmt.Sprintf("cam%d", i)
		p, err := startPublisher(t, addr, name, transport, h264PubTrack())
		if err != nil {
			t.Fatal(err)
		}
		tap.next(t, name)
		go func() {
			for j := 0; ; j++ {
				if p.write(p.tracks[0], int64(j)*mediatest.VideoTicks, videoNTP(j), mediatest.H264AU(j)) != nil {
					return
				}
				sent[i].Store(int64(j))
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	waitUnits(t, reg, "cam0", 1)
	waitUnits(t, reg, "cam1", 1)
	r0, err := startReader(t, addr, "cam0", gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := startReader(t, addr, "cam1", gortsplib.TransportUDP)
	if err != nil {
		t.Fatal(err)
	}

	latest := allClosedWithin(t, "idle", start, []<-chan time.Time{quietClosed, slowClosed}, idle+2*time.Second)
	t.Logf("an idle and a slowloris connection closed within %v (IdleTimeout %v)", latest, idle)
	time.Sleep(3 * idle)
	select {
	case err := <-keepaliveErr:
		t.Fatalf("a connection sending keepalives was closed: %v", err)
	default:
	}
	for i, r := range []*testReader{r0, r1} {
		r.waitVideo(t, int(sent[i].Load()))
	}
	if got := testutil.ToFloat64(srv.metrics.timeouts.WithLabelValues("idle")); got != 2 {
		t.Fatalf("idle timeouts counted: %v, want 2", got)
	}
}

// TestRTSPConnectionCaps fills the per-address and total caps with idle
// connections: the ones over a cap are closed at once and counted, a
// camera from another address still connects and publishes, and once the
// flood is gone it reconnects.
func TestRTSPConnectionCaps(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv := &Server{Address: "127.0.0.1:0", Registry: reg, Logger: mediatest.Logger(),
		MaxConnections: 25, MaxConnectionsPerAddress: 10, AuthTimeout: time.Minute}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	addr := srv.Addr()

	// accepted counts the connections the server took: open or refused.
	accepted := func() int {
		return srv.ListenerState().Open + int(testutil.ToFloat64(srv.metrics.refused.WithLabelValues(refusedTotal))+
			testutil.ToFloat64(srv.metrics.refused.WithLabelValues(refusedPerAddress)))
	}
	flood := func(from string, n int) (held, refused int) {
		before := accepted()
		chans := attack(t, addr, from, n, false)
		mediatest.WaitFor(t, "the flood to be accepted", func() bool { return accepted() == before+n })
		time.Sleep(100 * time.Millisecond) // for the clients to see the refusals
		for _, ch := range chans {
			select {
			case <-ch:
				refused++
			default:
				held++
			}
		}
		return held, refused
	}
	if held, refused := flood("127.0.0.2", 15); held != 10 || refused != 5 {
		t.Fatalf("one address: %d held, %d refused; want 10 and 5", held, refused)
	}
	pub, err := startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatalf("a camera from another address while one address is at its cap: %v", err)
	}
	if err := pub.write(pub.tracks[0], 0, videoNTP(0), mediatest.H264AU(0)); err != nil {
		t.Fatal(err)
	}
	waitUnits(t, reg, "cam1", 1)
	if held, refused := flood("127.0.0.3", 10); held != 10 || refused != 0 {
		t.Fatalf("a second address: %d held, %d refused; want 10 and 0", held, refused)
	}
	if held, refused := flood("127.0.0.4", 10); held != 4 || refused != 6 {
		t.Fatalf("a third address at the total cap: %d held, %d refused; want 4 and 6", held, refused)
	}
	if st := srv.ListenerState(); st.Open != 25 || !st.Accepting {
		t.Fatalf("listener state %+v, want 25 connections, accepting", st)
	}
	for reason, want := range map[string]float64{refusedPerAddress: 5, refusedTotal: 6} { // so far
		if got := testutil.ToFloat64(srv.metrics.refused.WithLabelValues(reason)); got != want {
			t.Fatalf("refused for %s: %v, want %v", reason, got, want)
		}
	}
	// The publisher kept its place; once the flood leaves, it reconnects.
	if err := pub.write(pub.tracks[0], mediatest.VideoTicks, videoNTP(1), mediatest.H264AU(1)); err != nil {
		t.Fatalf("the publisher under the flood: %v", err)
	}
	// Once it leaves, a flood takes its place: the camera cannot come back
	// until the flood ends.
	pub.c.Close()
	mediatest.WaitFor(t, "the publisher to leave", func() bool { return srv.ListenerState().Open == 24 })
	if held, refused := flood("127.0.0.5", 2); held != 1 || refused != 1 {
		t.Fatalf("a fourth address at the total cap: %d held, %d refused; want 1 and 1", held, refused)
	}
	if _, err := startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack()); err == nil {
		t.Fatal("a connection got past the full total cap")
	}
	closeAll(t)
	mediatest.WaitFor(t, "the flood's connections to be released", func() bool { return srv.ListenerState().Open == 0 })
	if _, err := startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack()); err != nil {
		t.Fatalf("reconnect after the flood: %v", err)
	}
}

// closeAll closes the connections attack opened for t.
func closeAll(t *testing.T) {
	t.Helper()
	floodMu.Lock()
	defer floodMu.Unlock()
	for _, c := range floodConns[t] {
		c.Close()
	}
	delete(floodConns, t)
}

var (
	floodMu    sync.Mutex
	floodConns = map[*testing.T][]net.Conn{}
)

// fdChildEnv marks the subprocess of TestRTSPAcceptErrorsRetried.
const fdChildEnv = "EDDY_RTSP_FD_LIMIT_CHILD"

// TestRTSPAcceptErrorsRetried runs an RTSP server in a subprocess limited
// to 64 file descriptors and floods it with connections that never stop
// coming back: accepts fail with EMFILE ("too many open files"), which
// once ended gortsplib's server for good. They are retried: a camera
// still gets in and publishes, a reader plays it, and after the flood a
// reconnect works.
func TestRTSPAcceptErrorsRetried(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		fdLimitedServer(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRTSPAcceptErrorsRetried$")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	addr := childLine(t, lines, "ADDR ")

	// A flood that reconnects at once whenever a connection is closed.
	stopFlood := make(chan struct{})
	var floods sync.WaitGroup
	for range 120 {
		floods.Add(1)
		go func() {
			defer floods.Done()
			for {
				c, err := dialFrom(addr, "127.0.0.2")
				if err == nil {
					select {
					case <-closedAt(c):
					case <-stopFlood:
						c.Close()
						return
					}
				}
				select {
				case <-stopFlood:
					return
				default:
				}
			}
		}()
	}
	mediatest.WaitFor(t, "an accept to fail", func() bool { return strings.Contains(logs.String(), "too many open files") })

	pub, err := startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatalf("a camera during the flood: %v", err)
	}
	go func() {
		for j := 0; ; j++ {
			if pub.write(pub.tracks[0], int64(j)*mediatest.VideoTicks, videoNTP(j), mediatest.H264AU(j)) != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	r, err := startReader(t, addr, "cam1", gortsplib.TransportTCP)
	if err != nil {
		t.Fatalf("a reader during the flood: %v", err)
	}
	r.waitVideo(t, 10)
	close(stopFlood)
	floods.Wait()
	pub.c.Close()
	r.client.Close()
	p2, err := startPublisher(t, addr, "cam2", gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatalf("reconnect after the flood: %v", err)
	}
	p2.c.Close()
	stdin.Close()
	state := childLine(t, lines, "STATE ")
	if !strings.HasPrefix(state, "accepting=true ") || strings.HasSuffix(state, "accept_errors=0") {
		t.Fatalf("child state %q: want accepting after retried accept errors", state)
	}
	t.Logf("fd-limited server: %s", state)
}

// fdLimitedServer is the subprocess: an RTSP server with at most 64 open
// files, which unproved connections leave after a second.
func fdLimitedServer(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	reg := &media.Registry{Logger: mediatest.Logger()}
	s := &Server{Address: "127.0.0.1:0", Registry: reg, AuthTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := s.Initialize(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR", s.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	st := s.ListenerState()
	fmt.Printf("STATE accepting=%v last_error=%q accept_errors=%v\n", st.Accepting, st.LastError, testutil.ToFloat64(s.metrics.acceptErrors))
	s.Close()
}

func childLine(t *testing.T, lines *bufio.Scanner, prefix string) string {
	t.Helper()
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), prefix); ok {
			return rest
		}
	}
	t.Fatalf("the subprocess printed no %q line: %v", prefix, lines.Err())
	return ""
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// announce sends an ANNOUNCE of one H.264 track for name on rc.
func (rc *rtspConn) announce(t *testing.T, name string) (*base.Response, error) {
	t.Helper()
	m := h264PubTrack().media
	m.Control = "trackID=0"
	sdp, err := (&description.Session{Medias: []*description.Media{m}}).Marshal(false)
	if err != nil {
		t.Fatal(err)
	}
	return rc.send(t, base.Announce, "/"+name, base.Header{"Content-Type": base.HeaderValue{"application/sdp"}}, sdp)
}

// TestRTSPAnnounceWithoutRecord reproduces name squatting: a client
// ANNOUNCEs a stream (and SETUPs it, or not) and never sends RECORD. The
// real camera is refused at first; once the squatter has held the name
// for half of PublishTimeout, the camera's ANNOUNCE takes it over (the
// squatter's connection is closed) and the camera publishes.
func TestRTSPAnnounceWithoutRecord(t *testing.T) {
	for _, setup := range []bool{false, true} {
		t.Run(fmt.Sprintf("setup=%v", setup), func(t *testing.T) {
			reg := &media.Registry{Logger: mediatest.Logger()}
			const timeout = 500 * time.Millisecond
			srv := &Server{Address: "127.0.0.1:0", Registry: reg, Logger: mediatest.Logger(), PublishTimeout: timeout}
			if err := srv.Initialize(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			addr := srv.Addr()

			sq := dialRTSP(t, addr)
			start := time.Now()
			if res, err := sq.announce(t, "cam1"); err != nil || res.StatusCode != base.StatusOK {
				t.Fatal(res, err)
			}
			if setup {
				res, err := sq.send(t, base.Setup, "/cam1/trackID=0",
					base.Header{"Transport": base.HeaderValue{"RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"}}, nil)
				if err != nil || res.StatusCode != base.StatusOK {
					t.Fatal(res, err)
				}
			}
			squatterClosed := closedAt(sq.nc)
			if _, err := startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack()); statusCode(err) != base.StatusBadRequest {
				t.Fatalf("the camera while the name is held: %v, want 400", err)
			}
			var pubErr error
			mediatest.WaitFor(t, "the camera to publish", func() bool {
				_, pubErr = startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack())
				return pubErr == nil
			})
			if d := time.Since(start); d < timeout/2 {
				t.Fatalf("the name was taken over after %v, before half of PublishTimeout", d)
			}
			select {
			case <-squatterClosed:
			case <-time.After(5 * time.Second):
				t.Fatal("the squatter's connection stayed open")
			}
			if got := testutil.ToFloat64(srv.metrics.timeouts.WithLabelValues("publish")); got != 1 {
				t.Fatalf("publish timeouts counted: %v, want 1", got)
			}
		})
	}
}

// TestRTSPRepeatingSquatter: a squatter that ANNOUNCEs again as soon as
// it is dropped, in a loop, does not keep a camera from publishing: the
// camera takes the name over from the squatter's stale ANNOUNCE, then
// records, and the squatter is refused from then on.
func TestRTSPRepeatingSquatter(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv := &Server{Address: "127.0.0.1:0", Registry: reg, Logger: mediatest.Logger(), PublishTimeout: time.Second}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	addr := srv.Addr()
	stop := make(chan struct{})
	var held, refused atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			nc, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				continue
			}
			rc := &rtspConn{nc: nc, c: conn.NewConn(nc), addr: addr}
			res, err := rc.announce(t, "cam1")
			if err == nil && res.StatusCode == base.StatusOK {
				held.Add(1)
				select { // hold the name until the server drops it
				case <-closedAt(nc):
				case <-stop:
				}
			} else {
				refused.Add(1)
			}
			nc.Close()
		}
	}()
	defer func() { close(stop); <-done }()
	mediatest.WaitFor(t, "the squatter to hold the name", func() bool { return held.Load() > 0 })
	start := time.Now()
	var pub *testPublisher
	mediatest.WaitFor(t, "the camera to publish", func() bool {
		p, err := startPublisher(t, addr, "cam1", gortsplib.TransportTCP, h264PubTrack())
		pub = p
		return err == nil
	})
	t.Logf("the camera published %v after the squatter took the name (%d ANNOUNCEs held, %d refused)", time.Since(start), held.Load(), refused.Load())
	before := refused.Load()
	mediatest.WaitFor(t, "the squatter to be refused", func() bool { return refused.Load() > before+3 })
	if err := pub.write(pub.tracks[0], 0, videoNTP(0), mediatest.H264AU(0)); err != nil {
		t.Fatalf("the camera lost the name: %v", err)
	}
}
