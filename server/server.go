package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/datastreams/kdsapi"
	"github.com/eddy-video/eddy/datastreams/tier"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/fragments/recorder"
	"github.com/eddy-video/eddy/hls"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/netlimit"
	"github.com/eddy-video/eddy/media/rtsp"
	"github.com/eddy-video/eddy/server/auth"
	"github.com/eddy-video/eddy/web"
	"github.com/eddy-video/eddy/webrtc"
)

// Server is a running Eddy. Set Config (and optionally Logger), call
// Initialize, then Close to shut down. Reload applies a new configuration
// (Config stays the one the server started with).
type Server struct {
	Config Config
	Logger *slog.Logger
	// LogLevel, when set, is the level of Logger's handler: Reload
	// applies log_level to it.
	LogLevel *slog.LevelVar
	// Clock replaces time.Now (tests use it for expiry and retention).
	Clock func() time.Time

	core     *datastreams.Core
	auth     *auth.Auth
	kds      *kdsapi.API
	registry *media.Registry
	videos   *fragments.Manager
	recorder *recorder.Recorder
	rtsp     *rtsp.Server
	rtsps    *rtsp.Server // nil without TLS
	webrtc   *webrtc.Server
	http     *http.Server
	httpLn   *netlimit.Listener
	cert     *certificate // nil without TLS
	labels   *streamLabels
	cuts     *readerCuts
	images   *images.Service // GetImages and thumbnails (ffmpeg processes)
	ready    atomic.Bool
	serveErr chan error
	close    sync.Once
	closeErr error
	live     liveConfig // the configuration in force (reload.go)
	// The status page's (console.go): the gatherer /metrics serves, the
	// latest warnings and errors logged, and when Initialize started.
	gather  prometheus.Gatherer
	errors  *errorRing
	started time.Time
	// Object storage (objectstorage.go); nil without storage.object.
	bucket    *watchedBucket
	cache     *blockcache.Cache
	cacheLock *os.File // the cache directory's flock
	tier      *tier.Tier
	tierStop  context.CancelFunc
	objectHot atomic.Int64 // storage.object.hot as reloads set it
}

// Initialize opens the store and starts the listeners.
func (s *Server) Initialize() error {
	err := s.initialize()
	if err != nil {
		// The tier's uploads stop (the core is closed by now); the
		// cache's prefetches too.
		_ = s.closeTier()
		if s.cache != nil {
			_ = s.cache.Close()
		}
		s.unlockCache()
	}
	return err
}

func (s *Server) initialize() error {
	if err := s.Config.Validate(); err != nil {
		return err
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.started = time.Now().UTC()
	s.errors = &errorRing{} // the status page's recent warnings and errors
	s.Logger = slog.New(&ringHandler{next: s.Logger.Handler(), ring: s.errors})
	c := s.Config
	if n := len(c.Auth.Credentials); n > 0 {
		s.Logger.Info("authentication on", "credentials", n)
	} else if c.InsecureAllowNetwork {
		s.Logger.Warn("INSECURE: insecure_allow_network is on; Eddy accepts unauthenticated requests from the network", "http", c.HTTP)
	} else {
		s.Logger.Info("no credentials configured: listening on loopback only", "http", c.HTTP)
	}
	s.checkFileLimit()
	reg, gather := s.newMetrics() // metrics.go: per-stream labels bounded by metrics.*
	s.gather = gather
	s.initReload(reg)
	s.core = &datastreams.Core{
		Dir:             c.Data,
		Region:          c.Region,
		AccountID:       c.AccountID,
		SyncPolicy:      c.Storage.Sync,
		SyncInterval:    time.Duration(c.Storage.SyncInterval),
		SegmentBytes:    int64(c.Storage.SegmentSize),
		SegmentDuration: time.Duration(c.Storage.SegmentDuration),
		JanitorInterval: time.Duration(c.Storage.JanitorInterval),
		MinFree:         datastreams.FreeSpace(c.Storage.MinFree),
		TransitionDelay: time.Duration(c.Streams.TransitionDelay),
		ShardLimit:      c.Streams.ShardLimit,
		RetentionBytes:  int64(c.Streams.RetentionBytes),
		Limits: datastreams.Limits{
			Enabled:          c.Streams.Throttle,
			WriteRecordsPerS: c.Streams.WriteRecordsPerS,
			WriteBytesPerS:   float64(c.Streams.WriteBytesPerS),
			ReadCallsPerS:    c.Streams.ReadCallsPerS,
			ReadBytesPerS:    float64(c.Streams.ReadBytesPerS),
		},
		Logger:      s.Logger,
		Registerer:  reg,
		LabelStream: s.labels.Label,
		Now:         s.Clock,
		AfterTrim: func(st *datastreams.Stream) {
			if v := s.videos; v != nil {
				v.Trimmed(st)
			}
		},
	}
	if err := s.openTier(reg); err != nil {
		return err
	}
	err := s.core.Initialize()
	if errors.Is(err, datastreams.ErrLocked) || errors.Is(err, datastreams.ErrNewerFormat) {
		return err // it names the directory and what to do
	}
	if err != nil {
		return fmt.Errorf("open data directory %s: %w", c.Data, err)
	}
	s.kds = &kdsapi.API{Core: s.core, Logger: s.Logger, ReservedSuffix: fragments.EventsSuffix, Registerer: reg}
	s.cuts = newReaderCuts(reg, time.Duration(c.Limits.WriteTimeout), s.kds)

	// The identities every protocol checks (none: Eddy is open, and
	// Validate has kept it on loopback); the Kinesis Data Streams API
	// verifies SigV4 with service "kinesis". The other protocols get their
	// hooks where they are built below.
	if s.auth, err = s.newAuth(reg); err != nil {
		s.core.Close()
		return err
	}
	if s.auth.Enabled() {
		s.kds.Auth, s.kds.Account = s.auth.Verifier, c.AccountID
		s.kds.OnFailure = s.auth.FailureHook("kinesis")
	}
	s.registry = &media.Registry{QueueSize: 4096, Logger: s.Logger,
		CheckName:  fragments.CheckName, // no publication may take an event stream's name
		Registerer: reg, StreamLabel: s.labels.Label}
	s.registry.RegisterMetrics() // PutMedia's series show from the start
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "eddy_live_reader_drops_total",
		Help: "Live readers (viewers, recorders) dropped for falling a whole queue behind their publisher."},
		func() float64 { return float64(s.registry.Dropped()) }))
	s.videos = &fragments.Manager{
		Core: s.core, AutoCreate: c.Video.AutoCreate, PartDuration: time.Duration(c.HLS.PartDuration),
		DefaultRetentionHours: int(time.Duration(c.Video.DefaultRetention) / time.Hour),
		Logger:                s.Logger, Registerer: reg,
	}
	if err := s.videos.Initialize(); err != nil {
		s.core.Close()
		return fmt.Errorf("video streams: %w", err)
	}
	// Every log is open (attached to the tier): uploads may begin.
	if err := s.startTier(); err != nil {
		s.videos.Close()
		s.core.Close()
		return err
	}
	s.recorder = &recorder.Recorder{Videos: s.videos,
		MaxFragmentDuration: time.Duration(c.Video.MaxFragmentDuration),
		Logger:              s.Logger, Registerer: reg}
	if err := s.recorder.Initialize(); err != nil {
		s.videos.Close()
		s.closeStore()
		return err
	}
	// Every publication is admitted by the video layer (which may create
	// its stream) and recorded; a deleted stream stops recording and its
	// publication ends first.
	s.registry.Admit = s.videos.Admit
	s.registry.OnPublish = s.recorder.OnPublish
	s.registry.OnUnpublish = func(name string, h *media.Hub) {
		s.recorder.OnUnpublish(name, h)
		// A stream auto-created for a publish that sent nothing (refused
		// after its ANNOUNCE, abandoned before media) goes again.
		s.videos.Unpublished(name, h.Units() > 0)
	}
	s.videos.BeforeDelete = s.beforeDeleteVideo // lifecycle.go
	s.recorder.EndPublication = s.endRecording  // a full disk ends the publication

	r := chi.NewRouter()
	r.Get("/healthz", s.healthz)
	r.Handle("/metrics", s.guardMetrics(promhttp.HandlerFor(gather, promhttp.HandlerOpts{})))
	// Kinesis Data Streams: POST / with X-Amz-Target (JSON 1.1 and CBOR).
	r.Post("/", s.kds.ServeHTTP)
	s.mountAuth(r) // POST /api/v1/tokens
	// A POST to a one-segment path no route has is a Kinesis operation
	// Eddy does not know (restJson1 operations are POST /<operation>):
	// it gets a typed error. Anything else is a plain 404.
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.Count(r.URL.Path, "/") == 1 {
			kvsapi.UnknownOperation(w, r)
			return
		}
		http.NotFound(w, r)
	})
	scheme := "http"
	if c.TLSCert != "" {
		scheme = "https"
	}
	// Kinesis Video: control plane, archived media, and a typed error for
	// every operation Eddy does not serve; with credentials each is signed
	// (service kinesisvideo) and allowed kinesisvideo:<Operation>.
	var kvsGuard *kvsapi.Guard
	if s.auth.Enabled() {
		kvsGuard = &kvsapi.Guard{Verifier: s.auth.Verifier, Account: c.AccountID, OnFailure: s.auth.FailureHook("kinesisvideo")}
	}
	kvsMetrics := kvsapi.NewMetrics(reg, s.labels.Label) // shared with HLS
	// Images (GetImages, thumbnails) are decoded by ffmpeg processes;
	// without ffmpeg the server runs and they answer what to install.
	s.images = images.New(images.Options{FFmpeg: c.Images.FFmpeg, Workers: c.Images.Workers, Logger: s.Logger, Registerer: reg})
	if err := s.images.Available(); err != nil {
		s.Logger.Warn("images unavailable", "err", err)
	}
	kvsAPI := &kvsapi.API{Videos: s.videos, Logger: s.Logger, Now: s.Clock, Guard: kvsGuard, Metrics: kvsMetrics, Deadlines: s.cuts.deadlines("kvs"),
		GetMediaSession: time.Duration(c.Limits.GetMediaSession),
		Images:          s.images,
		Endpoint:        func(r *http.Request) string { return scheme + "://" + r.Host },
		// PutMedia: producers' Matroska uploads, published and recorded.
		PutMedia: &kvsapi.PutMedia{Registry: s.registry, Registerer: reg},
	}
	kvsAPI.Mount(r)
	hlsKey, err := atomicfile.LoadOrCreateKey(filepath.Join(c.Data, "hls.key")) // session URLs survive restarts
	if err != nil {
		s.closeMedia()
		s.closeStore()
		return fmt.Errorf("hls key: %w", err)
	}
	hlsServer := &hls.Server{Manager: s.videos, Key: hlsKey, Now: s.Clock, Guard: kvsGuard, Logger: s.Logger,
		Metrics: kvsMetrics, Registerer: reg, Deadlines: s.cuts.deadlines("hls")}
	if s.auth.Enabled() {
		hlsServer.OnFailure = func(r *http.Request, reason, who string) {
			s.auth.Failed("hls", reason, r.RemoteAddr, who)
			s.auth.Wait(r.Context(), r.RemoteAddr)
		}
	}
	hlsServer.Mount(r)
	(&web.Handler{Manager: s.videos, Registry: s.registry, Logger: s.Logger, Now: s.Clock,
		Access:     s.webAccess(), // UI login, sessions and tokens
		HLSSession: hlsServer.ServeSessionURL, Deadlines: s.cuts.deadlines("clip"),
		Images: s.images, ThumbnailCacheBytes: int64(c.Images.ThumbnailCache), Registerer: reg, // thumbnails
		// The console's management (console.go): the control plane with
		// the session's identity, the listeners, sources and status.
		KVS: kvsAPI.ServeAs, Endpoints: s.consoleEndpoints, Sources: s.consoleSources, Status: s.consoleStatus,
		Tiering: s.tierUsage, // with storage.object: per stream on disk and in the bucket
	}).Mount(r)
	wo := c.WebRTCOptions
	s.webrtc = &webrtc.Server{Registry: s.registry, Address: c.WebRTC, Advertise: wo.Advertise,
		MaxSessions: wo.MaxSessions, MaxPending: wo.MaxPending,
		HandshakeTimeout: time.Duration(wo.HandshakeTimeout), KeyframeInterval: time.Duration(wo.KeyframeInterval),
		StreamExists: func(name string) bool { _, err := s.videos.Describe(name); return err == nil },
		Logger:       s.Logger, Registerer: reg, StreamLabel: s.labels.Label}
	s.webrtc.Authorize = s.webrtcAuthorize() // WHIP/WHEP bearer tokens
	// The events data channel of WHEP sessions.
	s.webrtc.Events = s.timelineOf
	if s.auth.Enabled() {
		s.webrtc.OnDenied = func(r *http.Request, who string) {
			s.auth.Failed("webrtc", awsauth.ReasonAccessDenied, r.RemoteAddr, who)
		}
	}
	for _, is := range wo.ICEServers {
		s.webrtc.ICEServers = append(s.webrtc.ICEServers, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	if err := s.webrtc.Initialize(); err != nil {
		s.webrtc = nil
		s.closeMedia()
		s.closeStore()
		return err
	}
	s.webrtc.Mount(r)

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if c.TLSCert != "" {
		protocols.SetHTTP2(true)
	} else {
		// Cleartext HTTP/2 with prior knowledge: the JS SDK v3 speaks it
		// to http:// endpoints for SubscribeToShard.
		protocols.SetUnencryptedHTTP2(true)
	}
	// Headers are capped (Go's default is 1 MB) and so are the
	// connections still sending theirs: slow clients with huge headers
	// cannot take the memory.
	gate := newHeaderGate(max(64, c.Limits.Connections/8), reg)
	s.http = &http.Server{
		Handler:           r,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    int(c.Limits.HeaderBytes),
		ConnState:         gate.connState,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	s.http.RegisterOnShutdown(s.kds.Shutdown)
	s.http.RegisterOnShutdown(kvsAPI.Shutdown) // GetMedia and PutMedia sessions
	if c.TLSCert != "" {
		if s.cert, err = loadCertificate(c.TLSCert, c.TLSKey); err != nil {
			s.closeMedia()
			s.closeStore()
			return err
		}
		s.http.TLSConfig = s.cert.config("h2", "http/1.1")
	}
	raw, err := net.Listen("tcp", c.HTTP)
	if err != nil {
		s.closeMedia()
		s.closeStore()
		return fmt.Errorf("http listener: %w", err)
	}
	ln := &netlimit.Listener{Listener: raw, Name: "http", Max: c.Limits.Connections, PerAddress: c.Limits.ConnectionsPerAddress, Logger: s.Logger}
	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if s.cert != nil {
		getCert = s.cert.get
	}
	if err := s.startRTSP(reg, getCert); err != nil {
		ln.Close()
		s.closeMedia()
		s.closeStore()
		return err
	}
	if err := s.startSources(); err != nil {
		ln.Close()
		s.closeMedia()
		s.closeStore()
		return err
	}
	s.httpLn = ln
	s.serveErr = make(chan error, 1)
	go func() {
		var err error
		if c.TLSCert != "" {
			err = s.http.ServeTLS(ln, "", "") // ALPN offers h2 and http/1.1
		} else {
			err = s.http.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}()
	s.ready.Store(true)
	s.Logger.Info("ready", "http", scheme+"://"+ln.Addr().String(), "rtsp", "rtsp://"+s.rtsp.Addr(), "rtsps", s.RTSPSAddr(), "webrtc", s.webrtc.UDPAddr(), "webrtc_tcp", s.webrtc.TCPAddr(), "data", c.Data, "sync", c.Storage.Sync)
	return nil
}

// closeStore closes the tier (its uploads stop), then the core: a start
// that fails after both opened.
func (s *Server) closeStore() {
	_ = s.closeTier()
	s.core.Close()
}

// checkFileLimit warns when the file descriptor limit is below what the
// connection caps allow the listeners to hold (plus room for the store's
// files): a flood would exhaust descriptors before any cap refuses it,
// and accepts would fail (retried) for everyone until it leaves.
func (s *Server) checkFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	listeners := 2 // HTTP, RTSP
	if s.Config.TLSCert != "" {
		listeners++ // RTSPS
	}
	need := uint64(listeners*s.Config.Limits.Connections + 1024)
	if rl.Cur < need {
		s.Logger.Warn("the file descriptor limit is below what limits.connections lets clients hold; raise it (LimitNOFILE, ulimit -n) or lower limits.connections",
			"limit", rl.Cur, "wanted", need, "limits.connections", s.Config.Limits.Connections, "listeners", listeners)
	}
}

// newAuth builds the configured identities (secrets read from their
// files; a video stream's event stream follows its video stream's
// patterns) and the authority that checks them.
func (s *Server) newAuth(reg prometheus.Registerer) (*auth.Auth, error) {
	c := s.Config
	creds, err := auth.LoadCredentials(authSources(c.Auth.Credentials), fragments.EventsSuffix)
	if err != nil {
		return nil, fmt.Errorf("auth.credentials: %w", err)
	}
	// Eddy's own tokens and UI sessions: signed with a key kept in
	// the data directory, so that they survive a restart.
	key, err := auth.LoadKey(c.Data)
	if err != nil {
		return nil, err
	}
	metricsToken, err := auth.LoadSecret(c.Auth.MetricsToken, c.Auth.MetricsTokenFile)
	if err != nil {
		return nil, fmt.Errorf("auth.metrics_token_file: %w", err)
	}
	a := &auth.Auth{Credentials: creds, Region: c.Region, Account: c.AccountID, Key: key, MetricsToken: metricsToken,
		FailureLimit: c.Auth.FailureLimit, FailureDelay: time.Duration(c.Auth.FailureDelay),
		MaxTokenTTL: time.Duration(c.Auth.MaxTokenTTL), SessionTTL: time.Duration(c.Auth.SessionTTL),
		Now: s.Clock, Logger: s.Logger, Registerer: reg}
	return a, a.Initialize()
}

// closeMedia stops RTSP, ends every publication (recorders flush their
// last fragment) and closes the video streams.
func (s *Server) closeMedia() {
	if s.webrtc != nil {
		s.webrtc.Close()
	}
	if s.rtsp != nil {
		s.rtsp.Close()
	}
	if s.rtsps != nil {
		s.rtsps.Close()
	}
	s.registry.Close()
	s.recorder.Close()
	s.videos.Close()
}

// RTSPAddr returns the address the RTSP listener is bound to.
func (s *Server) RTSPAddr() string { return s.rtsp.Addr() }

// Registry returns the live publications.
func (s *Server) Registry() *media.Registry { return s.registry }

// WebRTC returns the WHEP/WHIP server.
func (s *Server) WebRTC() *webrtc.Server { return s.webrtc }

// Videos returns the video streams.
func (s *Server) Videos() *fragments.Manager { return s.videos }

// HTTPAddr returns the address the HTTP listener is bound to.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// Core returns the shard core.
func (s *Server) Core() *datastreams.Core { return s.core }

// Close shuts down: new connections stop, long-lived responses end,
// in-flight requests finish (or are cut after the grace period), then the
// store closes after its writers have committed everything they accepted.
func (s *Server) Close() error {
	s.close.Do(func() { s.closeErr = s.shutdown() })
	return s.closeErr
}

func (s *Server) shutdown() error {
	s.ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.kds.Shutdown()
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	if serr := <-s.serveErr; serr != nil && err == nil {
		err = serr
	}
	s.closeMedia()
	// Uploads stop before the logs close (one in flight is redone at the
	// next start); the cache last, as the logs read through it.
	if terr := s.closeTier(); terr != nil && err == nil {
		err = terr
	}
	if cerr := s.core.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if s.cache != nil {
		if cerr := s.cache.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	s.unlockCache()
	return err
}

// ---- RTSP and RTSPS: listeners, credentials, limits ----

// startRTSP starts the RTSP listener and, when getCert serves the
// configured certificate (TLS is on), the RTSPS one. With credentials
// configured, every publisher and reader authenticates with an access key
// id and its secret.
func (s *Server) startRTSP(reg prometheus.Registerer, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) error {
	c := s.Config
	rs := &rtsp.Server{Address: c.RTSP, UDPRTPAddress: c.RTSPUDPRTP, UDPRTCPAddress: c.RTSPUDPRTCP,
		Registry: s.registry, Logger: s.Logger}
	s.hookRTSP(rs, reg)
	if err := rs.Initialize(); err != nil {
		return fmt.Errorf("rtsp listener: %w", err)
	}
	s.rtsp = rs
	if getCert == nil || c.RTSPS == "" {
		return nil
	}
	rss := &rtsp.Server{Address: c.RTSPS, Registry: s.registry, Logger: s.Logger,
		TLSConfig: &tls.Config{GetCertificate: getCert, MinVersion: tls.VersionTLS12}}
	s.hookRTSP(rss, reg)
	if err := rss.Initialize(); err != nil {
		return fmt.Errorf("rtsps listener: %w", err)
	}
	s.rtsps = rss
	return nil
}

// RTSPListeners reports the state of the RTSP listener and, with TLS,
// the RTSPS one: whether each accepts connections, how many are open, and
// its last accept error (for /healthz).
func (s *Server) RTSPListeners() []netlimit.State {
	var out []netlimit.State
	for _, rs := range []*rtsp.Server{s.rtsp, s.rtsps} {
		if rs != nil {
			out = append(out, rs.ListenerState())
		}
	}
	return out
}

// RTSPSAddr returns the address the RTSPS listener is bound to; "" when
// there is none (no TLS).
func (s *Server) RTSPSAddr() string {
	if s.rtsps == nil {
		return ""
	}
	return s.rtsps.Addr()
}

// hookRTSP gives rs the connection caps and metrics, and makes it check
// credentials through the server's authority.
func (s *Server) hookRTSP(rs *rtsp.Server, reg prometheus.Registerer) {
	rs.MaxConnections = s.Config.Limits.Connections
	rs.MaxConnectionsPerAddress = s.Config.Limits.ConnectionsPerAddress
	rs.Registerer, rs.StreamLabel = reg, s.labels.Label
	s.cuts.hookRTSP(rs)
	if !s.auth.Enabled() {
		return
	}
	rs.Authenticate = s.auth.Secret
	rs.Authorize = s.auth.Allowed
	rs.OnAuthFailure = s.auth.RTSPFailed
	rs.SlowDown = s.auth.Wait
}
