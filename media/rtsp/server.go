package rtsp

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/internal/loglimit"
	"github.com/eddy-video/eddy/media/netlimit"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// Defaults of Server.
const (
	DefaultSourceWait   = 10 * time.Second
	DefaultReaderLinger = 10 * time.Second
)

var (
	errBadPath       = errors.New("bad RTSP path")
	errServerClosing = errors.New("RTSP server is closing")
)

// Server is the RTSP endpoint (RFC 2326) of a Registry:
// rtsp://HOST:PORT/<stream> for ANNOUNCE/RECORD (publish) and
// DESCRIBE/SETUP/PLAY (live read), over TCP and, when configured, UDP.
//
// A publisher's RTP is decoded into access units on a Hub from
// Registry.Publish. All RTSP readers of a stream share one live output: one
// Viewer of the hub re-packetized into one gortsplib.ServerStream, created by
// the first DESCRIBE (or SETUP) and stopped when the publication ends or the
// last reader leaves.
type Server struct {
	// Address to listen on, e.g. "127.0.0.1:8554"; port 0 lets the OS
	// choose (see Addr).
	Address string
	// UDPRTPAddress and UDPRTCPAddress enable RTP over UDP (both or
	// neither; empty: TCP only). The RTP port must be even and the RTCP
	// port the next one; port 0 in both lets the server pick such a pair.
	UDPRTPAddress  string
	UDPRTCPAddress string
	Registry       *media.Registry
	Logger         *slog.Logger
	// TLSConfig makes the listener RTSPS (RTSP over TLS, rtsps://), over
	// TCP only. Set GetCertificate to serve a certificate that can change
	// while the server runs.
	TLSConfig *tls.Config
	// Read and write timeouts of RTSP connections (0: 10 s). A reader
	// whose write misses WriteTimeout, or whose queue of packets
	// (readerQueue) is full, cannot keep up: it is cut, and OnReaderCut,
	// when set, counts it.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	OnReaderCut  func()
	// SourceWait bounds how long a DESCRIBE waits for an on-demand
	// source to publish (0: 10 s).
	SourceWait time.Duration
	// ReaderLinger is how long a live output made for a DESCRIBE waits
	// for a reader's SETUP before it stops (0: 10 s).
	ReaderLinger time.Duration

	// Authenticate turns authentication on: it returns the secret of an
	// access key id, the RTSP user name (the secret is the password).
	// Digest (RFC 7616: SHA-256 and MD5) is offered, and Basic (RFC 7617)
	// over TLS only. nil: no request is checked.
	Authenticate func(user string) (secret string, ok bool)
	// Authorize reports whether user may perform action (ActionPublish,
	// ActionRead) on stream; nil: any authenticated user may.
	Authorize func(user, action, stream string) bool
	// OnAuthFailure hears of every failed authentication or
	// authorization: the client's address, the user it claimed ("" for
	// none) and a Reason*.
	OnAuthFailure func(addr, user, reason string)
	// SlowDown holds a request from addr before its credentials are
	// checked, while the address is slowed down for failing too often,
	// or until ctx ends; nil: never.
	SlowDown func(ctx context.Context, addr string)

	// AuthTimeout closes a connection that has not sent a request that
	// authenticates (with authentication off: any whole request) this
	// long after it was accepted (0: 10 s). IdleTimeout closes a proved
	// connection that neither plays, records nor completes a request for
	// this long (0: 1 min); a request sent byte by byte never completes.
	AuthTimeout time.Duration
	IdleTimeout time.Duration
	// PublishTimeout releases the stream name of an ANNOUNCE that has not
	// reached RECORD this long after (0: 5 s): nobody can hold a name
	// without publishing.
	PublishTimeout time.Duration
	// MaxConnections and MaxConnectionsPerAddress cap open connections,
	// in all and from one IP address (0: no cap). A connection over a cap
	// is closed as soon as it is accepted.
	MaxConnections           int
	MaxConnectionsPerAddress int
	// Registerer receives the eddy_rtsp_* metrics; listeners of one
	// process may share it (each has its "listener" label).
	Registerer prometheus.Registerer
	// StreamLabel gives the stream label of a stream's series (nil: its
	// name).
	StreamLabel func(name string) string

	srv       *gortsplib.Server
	ln        *listener
	metrics   *metrics
	log       *slog.Logger
	ctx       context.Context // ends at Close: bounds waits for sources
	ctxCancel context.CancelFunc
	pumps     sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	sessions map[*gortsplib.ServerSession]*rtspSession
	outs     map[string]*rtspOutput
	closed   bool
}

// rtspSession is what Eddy knows of one RTSP session: a publication or
// the live output it reads.
type rtspSession struct {
	pub     *rtspPublication
	out     *rtspOutput
	limiter loglimit.Limiter
	// recordWait releases a publication that has not reached RECORD in
	// time; recording stops it (both guarded by Server.mu).
	recordWait *time.Timer
	recording  bool
	announced  time.Time // when pub was announced
	// stopWatch unregisters the publisher's end watch (watchEnd) when the
	// session closes.
	stopWatch func() bool
	// playing is set by OnPlay and taken by OnResponse, once the session
	// receives the stream's packets.
	playing atomic.Bool
	cut     bool // the reader was cut for falling behind (guarded by Server.mu)
}

// readerQueue is the packets queued for one RTSP reader (a power of two):
// about 1 s of a 50 Mbit/s stream (5.7 MB), many seconds of a camera's. A reader
// that lets it fill cannot keep up and is cut.
const readerQueue = 4096

// OnStreamWriteError hears of a packet a reader's full queue could not
// take: the reader cannot keep up.
func (h *rtspHandler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	if h.s.markCut(ctx.Session) {
		h.warn(ctx.Session, "reader cut: it cannot keep up", "error", ctx.Error)
		go ctx.Session.Close()
	}
}

// markCut marks a reader's session as cut and counts it, once; it reports
// whether this call did.
func (s *Server) markCut(ss *gortsplib.ServerSession) bool {
	s.mu.Lock()
	sess := s.sessions[ss]
	first := sess != nil && sess.out != nil && !sess.cut
	if first {
		sess.cut = true
	}
	s.mu.Unlock()
	if first && s.OnReaderCut != nil {
		s.OnReaderCut()
	}
	return first
}

// rtspPublication is one publisher's stream.
type rtspPublication struct {
	name   string
	hub    *media.Hub
	tracks []*rtpcodec.IngestTrack
}

// rtspOutput is the shared live output of one stream to RTSP readers.
type rtspOutput struct {
	name  string
	ready chan struct{} // closed once stream or err is set
	err   error

	stream   *gortsplib.ServerStream
	viewer   *media.Viewer
	encoders map[int]*rtpcodec.Encoder // by track ID
	cancel   context.CancelFunc
	joined   atomic.Bool   // a reader started playing: send sender reports now
	playing  chan struct{} // closed when the first reader plays: the pump starts
	playOnce sync.Once

	// guarded by Server.mu
	readers int
	linger  *time.Timer
	stopped bool
}

// Initialize starts listening.
func (s *Server) Initialize() error {
	if s.Registry == nil {
		return errors.New("rtsp: Server needs a Registry")
	}
	if s.Address == "" {
		return errors.New("rtsp: Server needs an Address (e.g. 127.0.0.1:8554)")
	}
	if (s.UDPRTPAddress == "") != (s.UDPRTCPAddress == "") {
		return errors.New("media: set both UDPRTPAddress and UDPRTCPAddress, or neither")
	}
	if s.TLSConfig != nil && s.UDPRTPAddress != "" {
		return errors.New("rtsp: RTSPS is served over TCP only; leave UDPRTPAddress and UDPRTCPAddress empty")
	}
	if s.SourceWait <= 0 {
		s.SourceWait = DefaultSourceWait
	}
	if s.ReaderLinger <= 0 {
		s.ReaderLinger = DefaultReaderLinger
	}
	s.AuthTimeout = cmp.Or(max(s.AuthTimeout, 0), DefaultAuthTimeout)
	s.IdleTimeout = cmp.Or(max(s.IdleTimeout, 0), DefaultIdleTimeout)
	s.PublishTimeout = cmp.Or(max(s.PublishTimeout, 0), DefaultPublishTimeout)
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	s.log = log.With("component", "rtsp")
	m, err := newMetrics(s.Registerer, s.listenerName())
	if err != nil {
		return fmt.Errorf("rtsp: metrics: %w", err)
	}
	s.metrics = m
	if err := s.registerSessions(); err != nil {
		return fmt.Errorf("rtsp: metrics: %w", err)
	}
	s.sessions = map[*gortsplib.ServerSession]*rtspSession{}
	s.outs = map[string]*rtspOutput{}
	s.ctx, s.ctxCancel = context.WithCancel(context.Background())

	srv := &gortsplib.Server{
		Handler:        &rtspHandler{s: s},
		RTSPAddress:    s.Address,
		ReadTimeout:    s.ReadTimeout,
		WriteTimeout:   s.WriteTimeout,
		WriteQueueSize: readerQueue,
		// The pump sends sender reports itself (see rtpcodec.NTPToRTCP).
		DisableRTCPSenderReports: true,
		AuthMethods:              authMethods(s.TLSConfig != nil),
		TLSConfig:                s.TLSConfig,
		Listen:                   s.listen,
	}
	var udp map[string]net.PacketConn
	if s.UDPRTPAddress != "" {
		rtpAddr, rtcpAddr, conns, err := listenUDPPair(s.UDPRTPAddress, s.UDPRTCPAddress)
		if err != nil {
			return err
		}
		udp = conns
		srv.UDPRTPAddress, srv.UDPRTCPAddress = rtpAddr, rtcpAddr
		srv.ListenPacket = func(network, address string) (net.PacketConn, error) {
			if c, ok := udp[address]; ok {
				delete(udp, address)
				return c, nil
			}
			return net.ListenPacket(network, address)
		}
	}
	s.srv = srv // ServerStreams need it once requests arrive
	if err := srv.Start(); err != nil {
		s.srv = nil
		for _, c := range udp {
			c.Close()
		}
		s.ctxCancel()
		return fmt.Errorf("media: RTSP server: %w", err)
	}
	s.log.Info("RTSP server listening", "address", s.Addr(), "tls", s.TLSConfig != nil,
		"udp_rtp", srv.UDPRTPAddress, "udp_rtcp", srv.UDPRTCPAddress, "authentication", s.Authenticate != nil)
	return nil
}

// listenUDPPair returns the RTP and RTCP addresses to use. When the RTP port
// is 0 it binds an even port and the next one itself (RFC 3550 11) and
// returns them by address for the server's ListenPacket.
func listenUDPPair(rtpAddr, rtcpAddr string) (string, string, map[string]net.PacketConn, error) {
	host, port, err := net.SplitHostPort(rtpAddr)
	if err != nil {
		return "", "", nil, fmt.Errorf("media: UDPRTPAddress: %w", err)
	}
	if port != "0" {
		return rtpAddr, rtcpAddr, nil, nil
	}
	if _, p2, err := net.SplitHostPort(rtcpAddr); err != nil || p2 != "0" {
		return "", "", nil, errors.New("media: with UDPRTPAddress port 0, UDPRTCPAddress port must be 0 too")
	}
	for range 100 {
		c1, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", "", nil, err
		}
		p := c1.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p == 65535 {
			c1.Close()
			continue
		}
		a1 := net.JoinHostPort(host, strconv.Itoa(p))
		a2 := net.JoinHostPort(host, strconv.Itoa(p+1))
		c2, err := net.ListenPacket("udp", a2)
		if err != nil {
			c1.Close()
			continue
		}
		return a1, a2, map[string]net.PacketConn{a1: c1, a2: c2}, nil
	}
	return "", "", nil, errors.New("media: no free even/odd UDP port pair")
}

// listen opens the TCP listener for gortsplib, wrapped in the one that
// keeps it serving; it also keeps the listener (gortsplib does not expose
// it) to report the address and state.
func (s *Server) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	m := s.metrics
	s.ln = &listener{
		Listener: &netlimit.Listener{Listener: ln, Name: s.listenerName(), Max: s.MaxConnections, PerAddress: s.MaxConnectionsPerAddress,
			Logger: s.log,
			OnRefused: func(_ string, perAddress bool) {
				reason := refusedTotal
				if perAddress {
					reason = refusedPerAddress
				}
				m.refused.WithLabelValues(reason).Inc()
			},
			OnAcceptError: func(error) { m.acceptErrors.Inc() },
			OnOpen:        m.open.Inc,
			OnClose:       m.open.Dec,
		},
		authTimeout: s.AuthTimeout, idleTimeout: s.IdleTimeout, authenticates: s.Authenticate != nil,
		log: s.log, metrics: m}
	return s.ln, nil
}

func (s *Server) listenerName() string {
	if s.TLSConfig != nil {
		return "rtsps"
	}
	return "rtsp"
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// ListenerState reports whether the listener accepts connections, how
// many are open, and its last accept error.
func (s *Server) ListenerState() netlimit.State {
	if s.ln == nil {
		return netlimit.State{Name: s.listenerName(), Addr: s.Address}
	}
	return s.ln.State()
}

// Close disconnects everyone: publications end, outputs stop.
func (s *Server) Close() {
	if s.srv == nil {
		return
	}
	s.ctxCancel()
	s.srv.Close()
	s.mu.Lock()
	s.closed = true
	var outs []*rtspOutput
	for _, o := range s.outs {
		outs = append(outs, o)
	}
	s.mu.Unlock()
	for _, o := range outs {
		<-o.ready
		if o.err == nil {
			s.stopOutput(o, "server closing")
		}
	}
	s.pumps.Wait()
}

// rtspStatus translates an error into an RTSP status: the one table of
// the RTSP edge.
func rtspStatus(err error) base.StatusCode {
	switch {
	case errors.Is(err, errBadPath), errors.Is(err, media.ErrInvalidName),
		errors.Is(err, media.ErrAlreadyPublishing), errors.Is(err, rtpcodec.ErrTooManyTracks):
		return base.StatusBadRequest
	case errors.Is(err, media.ErrNotFound):
		return base.StatusNotFound
	case errors.Is(err, media.ErrForbidden):
		return base.StatusForbidden
	case errors.Is(err, rtpcodec.ErrUnsupportedCodec):
		return base.StatusUnsupportedMediaType
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, media.ErrRegistryClosed), errors.Is(err, errServerClosing):
		return base.StatusServiceUnavailable
	default:
		return base.StatusInternalServerError
	}
}

// errorResponse is a response whose reason phrase says what went wrong.
func errorResponse(err error) *base.Response {
	code := rtspStatus(err)
	msg := base.StatusMessages[code] + ": " + strings.TrimPrefix(err.Error(), "media: ")
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > 200 { // the reason phrase is read with a 255-byte limit
		msg = msg[:200]
	}
	return &base.Response{StatusCode: code, StatusMessage: msg}
}

func okResponse() *base.Response { return &base.Response{StatusCode: base.StatusOK} }

// streamName extracts the stream name of an RTSP request: the path must
// be exactly /<name>.
func (s *Server) streamName(path string, u *base.URL) (string, error) {
	if u != nil && strings.Contains((*url.URL)(u).EscapedPath(), "%") {
		return "", fmt.Errorf("%w %q: percent-encoding is not allowed in stream names", errBadPath, path)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	switch {
	case name == "":
		return "", fmt.Errorf("%w: no stream name; use rtsp://host:port/<stream>", errBadPath)
	case strings.Contains(name, "/"):
		return "", fmt.Errorf("%w %q: a stream name cannot contain '/'", errBadPath, path)
	}
	return name, s.Registry.ValidateName(name)
}

// output returns the live output of name, creating it if needed; with a
// session, it attaches the session as one of its readers.
func (s *Server) output(name string, ss *gortsplib.ServerSession) (*rtspOutput, error) {
	for range 3 {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errServerClosing
		}
		o := s.outs[name]
		create := o == nil
		if create {
			o = &rtspOutput{name: name, ready: make(chan struct{})}
			s.outs[name] = o
		}
		s.mu.Unlock()
		if create {
			s.startOutput(o)
		}
		<-o.ready
		if o.err != nil {
			return nil, o.err
		}
		s.mu.Lock()
		if o.stopped || s.closed {
			s.mu.Unlock()
			continue // it ended meanwhile: make a new one
		}
		if ss != nil {
			o.readers++
			o.linger.Stop()
			s.sessions[ss] = &rtspSession{out: o}
		}
		s.mu.Unlock()
		return o, nil
	}
	return nil, fmt.Errorf("%w: stream %q has no publication", media.ErrNotFound, name)
}

// startOutput attaches a viewer to the publication of o (waiting for an
// on-demand source) and starts pumping it into a new ServerStream.
func (s *Server) startOutput(o *rtspOutput) {
	fail := func(err error) {
		s.mu.Lock()
		if s.outs[o.name] == o {
			delete(s.outs, o.name)
		}
		o.err = err
		s.mu.Unlock()
		close(o.ready)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.SourceWait)
	v, err := s.Registry.Read(ctx, o.name)
	cancel()
	if err != nil {
		fail(err)
		return
	}
	desc := &description.Session{}
	o.encoders = map[int]*rtpcodec.Encoder{}
	for i, t := range v.Tracks {
		e, err := rtpcodec.NewEncoder(t, uint8(96+i))
		if err != nil {
			s.log.Warn("track not offered to RTSP readers", "stream", o.name, "track", t.ID, "codec", t.Codec, "error", err)
			continue
		}
		o.encoders[t.ID] = e
		desc.Medias = append(desc.Medias, e.Media)
	}
	if len(desc.Medias) == 0 {
		v.Close()
		fail(&rtpcodec.UnsupportedCodecError{Codec: media.TrackSummary(v.Tracks), Reason: "no track can be sent over RTSP"})
		return
	}
	stream := &gortsplib.ServerStream{Server: s.srv, Desc: desc}
	if err := stream.Initialize(); err != nil {
		v.Close()
		fail(fmt.Errorf("%w: %v", errServerClosing, err))
		return
	}
	pctx, pcancel := context.WithCancel(s.ctx)
	o.stream, o.viewer, o.cancel = stream, v, pcancel
	o.playing = make(chan struct{})
	s.mu.Lock()
	o.linger = time.AfterFunc(s.ReaderLinger, func() {
		s.mu.Lock()
		idle := o.readers == 0
		s.mu.Unlock()
		if idle {
			s.stopOutput(o, "no reader")
		}
	})
	s.pumps.Add(1)
	s.mu.Unlock()
	close(o.ready)
	s.log.Info("live output started", "stream", o.name, "tracks", media.TrackSummary(v.Tracks))
	go s.pump(pctx, o)
}

// pump re-packetizes the units of o's viewer for its readers. A slow RTSP
// reader never slows it: gortsplib queues per session and drops.
func (s *Server) pump(ctx context.Context, o *rtspOutput) {
	defer s.pumps.Done()
	// The viewer starts at the last keyframe: hold it until a reader
	// receives packets, so that the first reader can start decoding at once.
	select {
	case <-o.playing:
	case <-ctx.Done():
		s.stopOutput(o, "no reader")
		return
	}
	var limiter loglimit.Limiter
	forceSR := map[int]bool{}
	reason := "publication ended"
loop:
	for {
		au, err := o.viewer.Read(ctx)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				reason = err.Error()
			}
			break
		}
		e := o.encoders[au.Track]
		if e == nil {
			continue
		}
		pkts, err := e.Packets(au)
		if err != nil {
			if ok, held := limiter.Allow(); ok {
				s.log.Warn("cannot packetize unit", "stream", o.name, "track", au.Track, "error", err, "not_logged", held)
			}
			continue
		}
		ntp := au.NTP
		if ntp.IsZero() {
			ntp = au.Arrival
		}
		if ntp.IsZero() {
			ntp = time.Now()
		}
		for _, p := range pkts {
			if err := o.stream.WritePacketRTPWithNTP(e.Media, p, ntp); err != nil {
				var closed liberrors.ErrServerStreamClosed
				if errors.As(err, &closed) {
					reason = "stream closed"
					break loop
				}
			}
		}
		if o.joined.Swap(false) {
			for id := range o.encoders {
				forceSR[id] = true
			}
		}
		if sr := e.SenderReport(pkts, ntp, !au.NTP.IsZero(), forceSR[au.Track]); sr != nil {
			delete(forceSR, au.Track)
			_ = o.stream.WritePacketRTCP(e.Media, sr)
		}
	}
	s.stopOutput(o, reason)
}

// stopOutput ends o: its readers are disconnected and its viewer released.
func (s *Server) stopOutput(o *rtspOutput, reason string) {
	s.mu.Lock()
	if o.stopped {
		s.mu.Unlock()
		return
	}
	o.stopped = true
	if s.outs[o.name] == o {
		delete(s.outs, o.name)
	}
	o.linger.Stop()
	s.mu.Unlock()
	o.cancel()
	o.stream.Close()
	o.viewer.Close()
	s.log.Info("live output stopped", "stream", o.name, "reason", reason)
}

// session returns what is known of ss.
func (s *Server) session(ss *gortsplib.ServerSession) *rtspSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[ss]
}

// rtspHandler receives gortsplib's callbacks.
type rtspHandler struct {
	s *Server
}

func (h *rtspHandler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.s.connClosed(ctx.Conn)
	var term liberrors.ErrServerTerminated
	if ctx.Error != nil && !errors.Is(ctx.Error, io.EOF) && !errors.As(ctx.Error, &term) {
		h.s.log.Info("connection closed", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "error", ctx.Error)
	}
}

func (h *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s := h.s
	var ne net.Error
	if errors.As(ctx.Error, &ne) && ne.Timeout() {
		// A playing TCP reader has no read deadline (gortsplib waits on it only
		// for RTCP over UDP, which ends otherwise): its timeout is a write's.
		s.markCut(ctx.Session)
	}
	s.mu.Lock()
	sess := s.sessions[ctx.Session]
	delete(s.sessions, ctx.Session)
	if sess != nil && sess.recordWait != nil {
		sess.recordWait.Stop()
	}
	var stopWatch func() bool
	if sess != nil {
		stopWatch = sess.stopWatch
	}
	var last bool
	if sess != nil && sess.out != nil {
		sess.out.readers--
		last = sess.out.readers <= 0
	}
	s.mu.Unlock()
	if stopWatch != nil {
		stopWatch()
	}
	switch {
	case sess == nil:
	case sess.pub != nil:
		s.Registry.Unpublish(sess.pub.name, sess.pub.hub)
		s.log.Info("publisher left", "stream", sess.pub.name, "reason", ctx.Error)
	case last:
		s.stopOutput(sess.out, "last reader left")
	}
}

func (h *rtspHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s
	user, res, err := s.authenticate(ctx.Conn, ctx.Request)
	if res != nil {
		return res, nil, err
	}
	name, err := s.streamName(ctx.Path, ctx.Request.URL)
	if err != nil {
		s.log.Info("DESCRIBE refused", "path", ctx.Path, "error", err)
		return errorResponse(err), nil, nil
	}
	if res := s.permit(ctx.Conn, user, ActionRead, name); res != nil {
		return res, nil, nil
	}
	o, err := s.output(name, nil)
	if err != nil {
		s.log.Info("DESCRIBE refused", "stream", name, "error", err)
		return errorResponse(err), nil, nil
	}
	return okResponse(), o.stream, nil
}

func (h *rtspHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s := h.s
	user, res, err := s.authenticate(ctx.Conn, ctx.Request)
	if res != nil {
		return res, err
	}
	name, err := s.streamName(ctx.Path, ctx.Request.URL)
	if err != nil {
		s.log.Info("ANNOUNCE refused", "path", ctx.Path, "error", err)
		return errorResponse(err), nil
	}
	if res := s.permit(ctx.Conn, user, ActionPublish, name); res != nil {
		return res, nil
	}
	log := s.log.With("stream", name)
	tracks, err := rtpcodec.SelectTracks(ctx.Description.Medias, true, log)
	if err != nil {
		log.Info("ANNOUNCE refused", "error", err)
		return errorResponse(err), nil
	}
	hub, err := s.Registry.PublishRetry("rtsp", name, rtpcodec.TracksOf(tracks),
		func(error) bool { return s.takeOverPending(name) })
	if err != nil {
		log.Info("ANNOUNCE refused", "error", err)
		return errorResponse(err), nil
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		ss := ctx.Session
		sess := &rtspSession{pub: &rtspPublication{name: name, hub: hub, tracks: tracks}, announced: time.Now(),
			recordWait: time.AfterFunc(s.PublishTimeout, func() { s.recordTimedOut(ss) })}
		s.sessions[ss] = sess
		sess.stopWatch = s.watchEnd(ss, name, hub)
	}
	s.mu.Unlock()
	if closed {
		s.Registry.Unpublish(name, hub)
		return errorResponse(errServerClosing), nil
	}
	log.Info("publisher announced", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "tracks", media.TrackSummary(rtpcodec.TracksOf(tracks)))
	return okResponse(), nil
}

func (h *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return okResponse(), nil, nil // a publisher's media
	}
	if sess := s.session(ctx.Session); sess != nil && sess.out != nil {
		return okResponse(), sess.out.stream, nil // next media of a reader
	}
	user, res, err := s.authenticate(ctx.Conn, ctx.Request)
	if res != nil {
		return res, nil, err
	}
	name, err := s.streamName(ctx.Path, ctx.Request.URL)
	if err != nil {
		s.log.Info("SETUP refused", "path", ctx.Path, "error", err)
		return errorResponse(err), nil, nil
	}
	if res := s.permit(ctx.Conn, user, ActionRead, name); res != nil {
		return res, nil, nil
	}
	o, err := s.output(name, ctx.Session)
	if err != nil {
		s.log.Info("SETUP refused", "stream", name, "error", err)
		return errorResponse(err), nil, nil
	}
	return okResponse(), o.stream, nil
}

func (h *rtspHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if sess := h.s.session(ctx.Session); sess != nil && sess.out != nil {
		sess.playing.Store(true)
		h.s.log.Info("reader playing", "stream", sess.out.name, "remote", ctx.Conn.NetConn().RemoteAddr().String(),
			"transport", ctx.Session.SetuppedTransport().String())
	}
	return okResponse(), nil
}

// OnRequest sees a whole request arrive, before it is handled.
func (h *rtspHandler) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if g := guardOf(sc); g != nil {
		g.requested(req.Method)
	}
}

// OnResponse sees every response before it is sent: it moves the
// connection's phase, and sees a reader's PLAY response after gortsplib
// made the session active, i.e. once packets written to the stream reach
// it.
func (h *rtspHandler) OnResponse(sc *gortsplib.ServerConn, res *base.Response) {
	if g := guardOf(sc); g != nil {
		g.responded(res.StatusCode)
	}
	ss := sc.Session()
	if ss == nil || res.StatusCode != base.StatusOK {
		return
	}
	if sess := h.s.session(ss); sess != nil && sess.out != nil && sess.playing.Swap(false) {
		o := sess.out
		o.joined.Store(true)
		o.playOnce.Do(func() { close(o.playing) })
	}
}

func (h *rtspHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s := h.s
	s.mu.Lock()
	sess := s.sessions[ctx.Session]
	if sess != nil && sess.pub != nil {
		sess.recording = true
		sess.recordWait.Stop()
	}
	s.mu.Unlock()
	if sess == nil || sess.pub == nil {
		return errorResponse(fmt.Errorf("%w: RECORD without ANNOUNCE", errBadPath)), nil
	}
	pub := sess.pub
	in := &rtpcodec.Ingest{Hub: pub.hub, Timer: ctx.Session, Log: s.log.With("stream", pub.name), Tracks: pub.tracks}
	for _, it := range pub.tracks {
		ctx.Session.OnPacketRTP(it.Media, it.Format, func(pkt *rtp.Packet) { in.Handle(it, pkt) })
		ctx.Session.OnPacketRTCP(it.Media, func(pkt rtcp.Packet) { in.HandleRTCP(it, pkt) })
	}
	s.log.Info("publisher recording", "stream", pub.name, "transport", ctx.Session.SetuppedTransport().String())
	return okResponse(), nil
}

// watchEnd closes a publisher's session when the server ends its
// publication (Registry.End: the stream was deleted, recording failed):
// the camera sees its connection closed and, like any RTSP publisher that
// loses its server, reconnects. It returns the watch's stop.
func (s *Server) watchEnd(ss *gortsplib.ServerSession, name string, hub *media.Hub) func() bool {
	return hub.AfterEnd(func() {
		s.log.Warn("publisher disconnected: the server ended its publication", "stream", name, "reason", hub.EndErr())
		ss.Close()
	})
}

// takeOverPending frees name from an RTSP publication that announced it
// a while ago (a second, or half of PublishTimeout when that is shorter)
// and has not started recording, for a new ANNOUNCE of it: a squatter
// that announces again as soon as it is dropped would otherwise win
// every race with the camera. A camera records within milliseconds of its
// ANNOUNCE, so it is never the one taken over. It reports whether a
// publication was released.
func (s *Server) takeOverPending(name string) bool {
	grace := min(time.Second, s.PublishTimeout/2)
	s.mu.Lock()
	var ss *gortsplib.ServerSession
	var pub *rtspPublication
	for k, sess := range s.sessions {
		if sess.pub != nil && sess.pub.name == name && !sess.recording && time.Since(sess.announced) >= grace {
			ss, pub = k, sess.pub
			sess.pub = nil // its RECORD is refused, its close unpublishes nothing
			sess.recordWait.Stop()
			break
		}
	}
	s.mu.Unlock()
	if ss == nil {
		return false
	}
	s.Registry.Unpublish(name, pub.hub)
	s.metrics.timeouts.WithLabelValues("publish").Inc()
	s.log.Info("publication released: another ANNOUNCE while it had not recorded", "stream", name, "after", grace)
	ss.Close()
	return true
}

// recordTimedOut ends a publisher's session that announced a stream but
// did not start recording in time: the name is free again (a squatter
// would otherwise hold it while the real camera gets 400).
func (s *Server) recordTimedOut(ss *gortsplib.ServerSession) {
	s.mu.Lock()
	sess := s.sessions[ss]
	late := sess != nil && sess.pub != nil && !sess.recording
	s.mu.Unlock()
	if !late {
		return
	}
	s.metrics.timeouts.WithLabelValues("publish").Inc()
	s.log.Info("publication released: no RECORD after ANNOUNCE", "stream", sess.pub.name, "after", s.PublishTimeout)
	ss.Close()
}

func (h *rtspHandler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.warn(ctx.Session, "skipping malformed packet", "error", ctx.Error)
}

func (h *rtspHandler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	h.warn(ctx.Session, "RTP packets lost", "lost", ctx.Lost)
}

// warn logs a session's packet-level trouble, within the session's log
// rate limit (a bad camera would otherwise flood the log).
func (h *rtspHandler) warn(ss *gortsplib.ServerSession, msg string, attrs ...any) {
	sess := h.s.session(ss)
	if sess == nil {
		return
	}
	if ok, held := sess.limiter.Allow(); ok {
		h.s.log.Warn(msg, append([]any{"stream", sess.name()}, append(attrs, "not_logged", held)...)...)
	}
}

func (sess *rtspSession) name() string {
	switch {
	case sess.pub != nil:
		return sess.pub.name
	case sess.out != nil:
		return sess.out.name
	}
	return ""
}
