package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/intervalpli"
	"github.com/pion/interceptor/pkg/nack"
	pion "github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/media"
)

// ICEServer is a STUN or TURN server: given to clients (Link headers of
// WHIP/WHEP answers) and, for TURN, used by Eddy for relay candidates.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Server holds the WebRTC sessions. Set the exported fields, call
// Initialize, Mount the handlers, and Close when done.
type Server struct {
	Registry *media.Registry
	// Address is the host:port of the ICE UDP and TCP listeners (one port
	// each; with port 0 the OS picks the UDP port and TCP tries the same).
	Address string
	// Advertise replaces the host candidates' addresses (NAT, containers):
	// IP addresses or host names resolved at start.
	Advertise  []string
	ICEServers []ICEServer
	// MaxSessions caps WHEP plus WHIP sessions (0: 500); MaxPending caps
	// those whose ICE has not connected yet (0: 64).
	MaxSessions int
	MaxPending  int
	// HandshakeTimeout ends a session whose ICE and DTLS have not
	// connected in time (0: 10s).
	HandshakeTimeout time.Duration
	// KeyframeInterval is how often WHIP publishers are asked for a
	// keyframe (PLI); it bounds their GOPs and so the fragments (0: 2s).
	KeyframeInterval time.Duration
	// StreamExists, when set, tells a stream that is not live from one
	// that does not exist, for error messages.
	StreamExists func(name string) bool
	// Authorize, when set, checks the credentials of every WHEP and WHIP
	// request (the offer's POST, a session's PATCH and DELETE) for action
	// (ActionRead, ActionPublish) on stream, and returns who it is: a
	// session's resource answers only its maker. An *AuthError says the
	// status; nil Authorize: open to anyone who can reach the port.
	Authorize func(r *http.Request, action, stream string) (principal string, err error)
	// OnDenied, when set, is told of a PATCH or DELETE refused because its
	// valid credential names another identity than the session's maker
	// (Authorize reports its own refusals).
	OnDenied   func(r *http.Request, principal string)
	Logger     *slog.Logger
	log        *slog.Logger // Logger naming the component
	Registerer prometheus.Registerer
	// StreamLabel gives the stream label of a stream's series (nil: its
	// name).
	StreamLabel func(name string) string
	// Events, when set, returns a stream's event timeline (nil when it has
	// none): WHEP sessions that open an events data channel get its live
	// events there.
	Events func(name string) *events.Timeline

	udp     net.PacketConn
	batch   *batchConn // udp, when a *net.UDPConn: WHEP viewers' held sends
	tcp     net.Listener
	udpMux  ice.UDPMux
	tcpMux  ice.TCPMux
	whepAPI *pion.API
	whipAPI *pion.API
	pcCfg   pion.Configuration

	mu         sync.Mutex
	sessions   map[string]*session
	publishers map[string]*whipSession
	closed     bool

	peerConns atomic.Int64
	resyncs   atomic.Int64
	// resendsDropped counts NACKed packets not resent (over the budget).
	resendsDropped atomic.Int64
	// heldSendErrors counts sends of held packets that failed (Flush).
	heldSendErrors atomic.Int64
	refused        *prometheus.CounterVec
	// forward times each live unit per viewer, from its arrival (the unit's
	// first RTP packet read by the ingest; the server cannot send it before
	// its last) to its first and last RTP packet handed to the kernel.
	forwardFirst, forwardLast prometheus.Histogram
	// eventsSent and eventsDropped count events written to and dropped
	// for WHEP events channels.
	eventsSent, eventsDropped prometheus.Counter
	// eventsOpen counts the WHEP events channels that hold a subscription.
	eventsOpen atomic.Int64

	// packers packetize each hub track once for its WHEP viewers.
	packMu  sync.Mutex
	packers map[packerKey]*sharedPacker
}

// forwardBuckets resolve the sub-millisecond forwarding of an idle server
// and the tens of milliseconds of a loaded one.
var forwardBuckets = []float64{.0001, .00025, .0005, .00075, .001, .0015, .002, .003, .004, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1}

// Initialize opens the ICE listeners and builds the pion APIs.
func (s *Server) Initialize() error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.log = s.Logger.With("component", "webrtc") // the one place it is named
	if s.MaxSessions <= 0 {
		s.MaxSessions = 500
	}
	if s.MaxPending <= 0 {
		s.MaxPending = 64
	}
	if s.HandshakeTimeout <= 0 {
		s.HandshakeTimeout = 10 * time.Second
	}
	if s.KeyframeInterval <= 0 {
		s.KeyframeInterval = 2 * time.Second
	}
	s.sessions = map[string]*session{}
	s.publishers = map[string]*whipSession{}

	udp, err := net.ListenPacket("udp", s.Address)
	if err != nil {
		return fmt.Errorf("webrtc udp listener: %w", err)
	}
	tcp, err := listenTCPLike(s.Address, udp.LocalAddr().(*net.UDPAddr).Port)
	if err != nil {
		udp.Close()
		return fmt.Errorf("webrtc tcp listener: %w", err)
	}
	s.udp, s.tcp = udp, tcp
	lf := slogFactory{s.log}
	muxConn := udp
	if uc, ok := udp.(*net.UDPConn); ok {
		s.batch = newBatchConn(uc, func(err error) {
			if s.heldSendErrors.Add(1) == 1 {
				s.log.Warn("sending held WHEP packets", "err", err)
			}
		})
		muxConn = s.batch
	}
	s.udpMux = pion.NewICEUDPMux(lf.NewLogger("ice-udp"), muxConn)
	s.tcpMux = pion.NewICETCPMux(lf.NewLogger("ice-tcp"), tcp, 64)

	se := pion.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(s.udpMux)
	se.SetICETCPMux(s.tcpMux)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6, pion.NetworkTypeTCP4, pion.NetworkTypeTCP6})
	se.DisableActiveTCP(true)
	// Publishers that packetize for a 1500-byte MTU still get through.
	se.SetReceiveMTU(1600)
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeQueryOnly)
	// A peer that stops answering consent checks is gone in 10s.
	se.SetICETimeouts(4*time.Second, 6*time.Second, 2*time.Second)
	if len(s.Advertise) > 0 {
		ips, err := resolveAll(s.Advertise)
		if err != nil {
			s.closeListeners()
			return err
		}
		if err := se.SetICEAddressRewriteRules(pion.ICEAddressRewriteRule{External: ips, AsCandidateType: pion.ICECandidateTypeHost}); err != nil {
			s.closeListeners()
			return fmt.Errorf("webrtc advertise: %w", err)
		}
	}

	if s.whepAPI, err = newAPI(se, 0, func() { s.resendsDropped.Add(1) }); err != nil {
		s.closeListeners()
		return err
	}
	if s.whipAPI, err = newAPI(se, s.KeyframeInterval, nil); err != nil {
		s.closeListeners()
		return err
	}
	// Eddy gathers relay candidates through TURN servers; STUN would need
	// sockets besides the ICE port, and Advertise covers what it would
	// find. Clients get every server in Link headers.
	for _, is := range s.ICEServers {
		var turn []string
		for _, u := range is.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				turn = append(turn, u)
			}
		}
		if len(turn) > 0 {
			s.pcCfg.ICEServers = append(s.pcCfg.ICEServers, pion.ICEServer{URLs: turn, Username: is.Username, Credential: is.Credential})
		}
	}

	s.forwardFirst = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_webrtc_forward_first_packet_seconds",
		Help: "WHEP forwarding: from a unit's arrival (its first RTP packet in) to its first RTP packet out, per viewer.", Buckets: forwardBuckets})
	s.forwardLast = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eddy_webrtc_forward_last_packet_seconds",
		Help: "WHEP forwarding: from a unit's arrival (its first RTP packet in) to its last RTP packet out, per viewer.", Buckets: forwardBuckets})
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_webrtc_sessions_refused_total",
		Help: "WHEP and WHIP session requests refused, by reason."}, []string{"reason"})
	s.eventsSent, s.eventsDropped = newEventCounters()
	if s.Registerer != nil {
		s.Registerer.MustRegister(s.refused, s.forwardFirst, s.forwardLast, s.eventsSent, s.eventsDropped,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_webrtc_peer_connections",
				Help: "Open WebRTC peer connections (WHEP viewers and WHIP publishers)."},
				func() float64 { return float64(s.PeerConnections()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_webrtc_events_channels",
				Help: "Open WHEP events data channels (one at most per viewer), each with its event queue."},
				func() float64 { return float64(s.EventsChannels()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "eddy_webrtc_resends_dropped_total",
				Help: "NACKed RTP packets not resent to WHEP viewers: over the viewer's retransmission budget (a quarter of what it is sent) or resent less than 100 ms before."},
				func() float64 { return float64(s.resendsDropped.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "eddy_webrtc_udp_segmented_sends_total",
				Help: "UDP sends that carried several of a WHEP viewer's packets at once with the kernel's segmentation offload (UDP_SEGMENT)."},
				func() float64 {
					if s.batch == nil {
						return 0
					}
					return float64(s.batch.segmented.Load())
				}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "eddy_webrtc_held_send_errors_total",
				Help: "Failed UDP sends of the packets a WHEP viewer held to send together (a unit's after its first)."},
				func() float64 { return float64(s.heldSendErrors.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "eddy_webrtc_viewer_resyncs_total",
				Help: "WHEP viewers that fell a whole queue behind and restarted at the last keyframe."},
				func() float64 { return float64(s.resyncs.Load()) }),
			sessionsCollector{s})
	}
	s.log.Info("webrtc listening", "udp", udp.LocalAddr().String(), "tcp", tcp.Addr().String(),
		"udp_segmentation", s.batch != nil && s.batch.gso.Load())
	return nil
}

// newAPI builds a pion API with every codec Eddy sends or receives, NACK
// (resends within a budget, each dropped one counted by dropped) and RTCP
// reports; with pli > 0 it also asks senders for keyframes.
func newAPI(se pion.SettingEngine, pli time.Duration, dropped func()) (*pion.API, error) {
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	ir.Add(resendLimitFactory{dropped: dropped}) // before the responder: its writer
	// 512 packets is about two seconds of a 2 Mbit/s stream: enough to
	// answer NACKs, and bounded per viewer.
	// The responder keeps the packets it is given, not copies: WHEP
	// writes shared packets that nothing modifies (localTrack), and
	// WHIP sends no media. DisableCopy also makes pion's responder ignore
	// RTX: resends go on the main SSRC with their original sequence
	// numbers even when RTX is negotiated (browsers accept them, and
	// resendLimit counts on it to tell resends from new packets).
	if err := pion.ConfigureNackWithOptions(me, ir, nil, nack.ResponderSize(512), nack.DisableCopy()); err != nil {
		return nil, err
	}
	if err := pion.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	if pli > 0 {
		f, err := intervalpli.NewReceiverInterceptor(intervalpli.GeneratorInterval(pli))
		if err != nil {
			return nil, err
		}
		ir.Add(f)
	}
	return pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir)), nil
}

// listenTCPLike listens on TCP at addr, with the UDP port when addr's port
// is 0 (falling back to any port).
func listenTCPLike(addr string, udpPort int) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if port == "0" {
		if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(udpPort))); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", addr)
}

func resolveAll(hosts []string) ([]string, error) {
	var ips []string
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip.String())
			continue
		}
		addrs, err := net.LookupHost(h)
		if err != nil {
			return nil, fmt.Errorf("webrtc advertise %q: %w", h, err)
		}
		ips = append(ips, addrs...)
	}
	return ips, nil
}

// UDPAddr and TCPAddr return the ICE listeners' addresses.
func (s *Server) UDPAddr() string { return s.udp.LocalAddr().String() }

// TCPAddr returns the ICE TCP listener's address.
func (s *Server) TCPAddr() string { return s.tcp.Addr().String() }

// PeerConnections returns the number of open peer connections.
func (s *Server) PeerConnections() int { return int(s.peerConns.Load()) }

// EventsChannels returns the number of WHEP events channels writing a
// stream's events (each holds one subscription and one goroutine).
func (s *Server) EventsChannels() int { return int(s.eventsOpen.Load()) }

// Sessions returns the number of WHEP and WHIP sessions.
func (s *Server) Sessions() (whep, whip int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.kind == kindWHEP {
			whep++
		} else {
			whip++
		}
	}
	return whep, whip
}

func (s *Server) closeListeners() {
	if s.udpMux != nil {
		s.udpMux.Close()
	}
	if s.tcpMux != nil {
		s.tcpMux.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
}

// Close ends every session and closes the listeners.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.close("server shutting down")
	}
	s.closeListeners()
}

// errRefused is an HTTP error of a session request.
type errRefused struct {
	status int
	reason string // metric label
	msg    string
}

func (e *errRefused) Error() string { return e.msg }

func refuse(status int, reason, format string, args ...any) error {
	return &errRefused{status: status, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// admit reserves a slot for a new session.
func (s *Server) admit(ss *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return refuse(503, "closed", "server shutting down")
	}
	pending := 0
	for _, o := range s.sessions {
		if !o.connected.Load() {
			pending++
		}
	}
	switch {
	case len(s.sessions) >= s.MaxSessions:
		return refuse(503, "max_sessions", "too many WebRTC sessions (%d, the server's limit); try again later", s.MaxSessions)
	case pending >= s.MaxPending:
		return refuse(429, "max_pending", "too many WebRTC sessions still connecting (%d); try again in a few seconds", s.MaxPending)
	}
	s.sessions[ss.id] = ss
	return nil
}

func (s *Server) remove(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
}

func (s *Server) session(id string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[id]
	return ss, ok
}

// requestKeyframe asks the WHIP publisher of stream, if any, for a
// keyframe (a WHEP viewer lost one).
func (s *Server) requestKeyframe(stream string) {
	s.mu.Lock()
	p := s.publishers[stream]
	s.mu.Unlock()
	if p != nil {
		p.requestKeyframe()
	}
}

// newPeerConnection creates a counted peer connection.
func (s *Server) newPeerConnection(api *pion.API) (*pion.PeerConnection, error) {
	pc, err := api.NewPeerConnection(s.pcCfg)
	if err != nil {
		return nil, err
	}
	s.peerConns.Add(1)
	return pc, nil
}

// session is one WHEP or WHIP resource.
type session struct {
	srv     *Server
	id      string
	kind    string
	stream  string
	pc      *pion.PeerConnection
	created time.Time
	owner   owner
	log     *slog.Logger

	ctx       context.Context
	cancel    context.CancelFunc
	connected atomic.Bool
	up        chan struct{} // closed when ICE and DTLS are connected
	upOnce    sync.Once
	closeOnce sync.Once
	done      chan struct{}
	onClose   []func() // guarded by mu; nil once closed
	isClosed  bool     // guarded by mu

	mu          sync.Mutex
	remoteUfrag string

	// peer is the remote address of the selected candidate pair when it
	// runs over the ICE port's UDP socket (nil otherwise): what a WHEP
	// viewer's sends are held for (batchConn).
	peer atomic.Pointer[netip.AddrPort]

	evch      atomic.Pointer[eventChannel] // the open events data channel (WHEP)
	evClaimed atomic.Bool                  // an events channel was accepted: no other is
}

// addOnClose runs f when the session closes (at once if it already has).
func (ss *session) addOnClose(f func()) {
	ss.mu.Lock()
	if ss.isClosed {
		ss.mu.Unlock()
		f()
		return
	}
	ss.onClose = append(ss.onClose, f)
	ss.mu.Unlock()
}

func (ss *session) setRemoteUfrag(u string) {
	ss.mu.Lock()
	ss.remoteUfrag = u
	ss.mu.Unlock()
}

const (
	kindWHEP = "whep"
	kindWHIP = "whip"
)

func newSession(s *Server, kind, stream string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	id := fmt.Sprintf("%08x%08x%08x%08x", randUint32(), randUint32(), randUint32(), randUint32())
	return &session{srv: s, id: id, kind: kind, stream: stream, created: time.Now(), ctx: ctx, cancel: cancel,
		up: make(chan struct{}), done: make(chan struct{}),
		log: s.log.With("session", id[:8], "stream", stream, "kind", kind)}
}

// watch follows the peer connection's state: up when connected, closed
// when it fails or does not connect within the handshake timeout.
func (ss *session) watch() {
	if it := ss.iceTransport(); it != nil {
		it.OnSelectedCandidatePairChange(ss.setPeer)
	}
	ss.pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		switch st {
		case pion.PeerConnectionStateConnected:
			if it := ss.iceTransport(); it != nil {
				if p, err := it.GetSelectedCandidatePair(); err == nil {
					ss.setPeer(p)
				}
			}
			ss.connected.Store(true)
			ss.upOnce.Do(func() { close(ss.up) })
		case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed:
			go ss.close("peer connection " + st.String())
		}
	})
	go func() {
		t := time.NewTimer(ss.srv.HandshakeTimeout)
		defer t.Stop()
		select {
		case <-ss.up:
		case <-ss.done:
		case <-t.C:
			ss.close(fmt.Sprintf("not connected within %s", ss.srv.HandshakeTimeout))
		}
	}()
}

func (ss *session) iceTransport() *pion.ICETransport {
	if t := ss.pc.SCTP(); t != nil && t.Transport() != nil {
		return t.Transport().ICETransport()
	}
	return nil
}

// setPeer records the remote address of the selected candidate pair p
// when its packets leave through the ICE port's UDP socket: a local
// candidate over UDP that is not a relay (whose packets go through the
// TURN server's allocation).
func (ss *session) setPeer(p *pion.ICECandidatePair) {
	var a *netip.AddrPort
	if p != nil && p.Local != nil && p.Remote != nil && p.Local.Protocol == pion.ICEProtocolUDP && p.Local.Typ != pion.ICECandidateTypeRelay {
		if ip, err := netip.ParseAddr(p.Remote.Address); err == nil {
			ap := netip.AddrPortFrom(ip.Unmap(), p.Remote.Port)
			a = &ap
		}
	}
	ss.peer.Store(a)
}

// close ends the session once: its peer connection, its goroutines (via
// ctx) and its resource.
func (ss *session) close(why string) {
	ss.closeOnce.Do(func() {
		ss.cancel()
		ss.srv.remove(ss)
		ss.mu.Lock()
		fs := ss.onClose
		ss.onClose, ss.isClosed = nil, true
		ss.mu.Unlock()
		for _, f := range fs {
			f()
		}
		if ss.pc != nil {
			if err := ss.pc.Close(); err != nil && !errors.Is(err, context.Canceled) {
				ss.log.Debug("closing peer connection", "error", err)
			}
			ss.srv.peerConns.Add(-1)
		}
		close(ss.done)
		ss.log.Info("session ended", "reason", why, "lasted", time.Since(ss.created).Round(time.Millisecond).String())
	})
}
