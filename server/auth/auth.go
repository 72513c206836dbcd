package auth

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// Auth holds the identities and what checks them. Set the exported fields,
// then call Initialize.
type Auth struct {
	Credentials *awsauth.Credentials
	// Region and Account scope signatures and name principals in messages.
	Region, Account string
	// Key signs Eddy's tokens and sessions (32 bytes, kept in the data
	// directory so that they survive a restart).
	Key []byte
	// MetricsToken, when set, is a bearer token that may read /metrics
	// (SetMetricsToken changes it while the server runs).
	MetricsToken string
	// FailureLimit failures a minute from one address make its later
	// requests wait FailureDelay (0: no limit).
	FailureLimit int
	FailureDelay time.Duration
	// MaxTokenTTL bounds the lifetime of issued tokens (0: 24h);
	// SessionTTL is how long a web UI login lasts (0: 12h).
	MaxTokenTTL, SessionTTL time.Duration
	Now                     func() time.Time
	Logger                  *slog.Logger
	Registerer              prometheus.Registerer

	Verifier *awsauth.Verifier

	loggedOut loggedOut // web UI sessions ended early (session.go)

	failures *prometheus.CounterVec
	mu       sync.Mutex // guards byAddr and logged
	byAddr   map[string]*addrFailures
	logged   map[string]time.Time // last log line per address

	metricsToken atomic.Pointer[string] // MetricsToken as set now
}

// Initialize builds the verifier and registers the metrics.
func (a *Auth) Initialize() error {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	a.Logger = a.Logger.With("component", "auth")
	a.Verifier = &awsauth.Verifier{Credentials: a.Credentials, Region: a.Region, Now: a.Now}
	a.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_auth_failures_total",
		Help: "Failed authentications and authorizations, by protocol and reason."}, []string{"protocol", "reason"})
	if a.Registerer != nil {
		a.Registerer.MustRegister(a.failures)
	}
	a.SetMetricsToken(a.MetricsToken)
	a.byAddr = map[string]*addrFailures{}
	a.logged = map[string]time.Time{}
	return nil
}

// Enabled reports whether any identity is configured: without, Eddy
// listens on loopback only and checks nothing.
func (a *Auth) Enabled() bool { return a != nil && a.Credentials != nil && a.Credentials.Len() > 0 }

// SetMetricsToken replaces the bearer token that may read /metrics ("":
// none), as a configuration reload does.
func (a *Auth) SetMetricsToken(tok string) { a.metricsToken.Store(&tok) }

// CurrentMetricsToken returns the bearer token that may read /metrics
// ("": none).
func (a *Auth) CurrentMetricsToken() string {
	if p := a.metricsToken.Load(); p != nil {
		return *p
	}
	return ""
}
