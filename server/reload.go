package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/server/auth"
)

// A running server takes a new configuration with Reload (eddy serve calls
// it on SIGHUP and when the configuration file changes). What can change
// live does, and nothing else is touched: publishers and viewers that a
// change does not concern go on. A configuration that does not validate,
// or whose secret files or certificate cannot be read, is refused as a
// whole and the running one stays. A setting that only a restart can
// change is named, and the rest still applies.

// ReloadResult says what a reload did.
type ReloadResult struct {
	// Applied lists the changes made, one line each
	// ("video.sources[cam2]: added, pulling rtsp://...").
	Applied []string
	// Restart lists the settings (YAML keys) that differ from the running
	// ones but take effect only after a restart; they were not applied.
	Restart []string
}

// Results of a reload, the values of eddy_config_reloads_total{result}.
const (
	reloadApplied = "applied" // every live change applied (maybe none)
	reloadRefused = "refused" // invalid: nothing applied
	reloadPartial = "partial" // valid, but some change failed to apply
)

// liveConfig is the configuration in force and what reloads it.
type liveConfig struct {
	mu  sync.Mutex // serializes reloads; guards cfg
	cfg Config     // Server.Config and what reloads applied since

	reloads    *prometheus.CounterVec
	lastOK     prometheus.Gauge
	lastOKTime prometheus.Gauge
}

// initReload registers the reload metrics; the configuration in force is
// the one the server starts with.
func (s *Server) initReload(reg prometheus.Registerer) {
	l := &s.live
	l.cfg = s.Config.clone()
	l.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eddy_config_reloads_total",
		Help: "Configuration reloads (SIGHUP, file changes) by result: applied, refused (invalid, the running configuration stays), partial (some change failed to apply)."},
		[]string{"result"})
	for _, r := range []string{reloadApplied, reloadRefused, reloadPartial} {
		l.reloads.WithLabelValues(r)
	}
	l.lastOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_config_last_reload_successful",
		Help: "1 when the last configuration reload applied entirely (or none happened), 0 otherwise."})
	l.lastOK.Set(1)
	l.lastOKTime = prometheus.NewGauge(prometheus.GaugeOpts{Name: "eddy_config_last_reload_success_timestamp_seconds",
		Help: "When the configuration in force was last loaded entirely (start or reload), in Unix seconds."})
	l.lastOKTime.SetToCurrentTime()
	reg.MustRegister(l.reloads, l.lastOK, l.lastOKTime)
}

// RunningConfig returns the configuration in force: Config as the server
// started with it, and what reloads have applied since.
func (s *Server) RunningConfig() Config {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	return s.live.cfg.clone()
}

// ReloadWith reloads the configuration load returns; when load fails
// (an unreadable or unparsable file) the reload is refused like an
// invalid configuration.
func (s *Server) ReloadWith(load func() (Config, error)) (ReloadResult, error) {
	next, err := load()
	if err != nil {
		s.live.mu.Lock()
		defer s.live.mu.Unlock()
		re := &ReloadError{Refused: true, Err: err}
		s.reloaded(ReloadResult{}, re)
		return ReloadResult{}, re
	}
	return s.Reload(next)
}

// ReloadError is a failed reload. Refused: nothing was applied (the
// configuration is invalid); otherwise the changes in the ReloadResult
// were, and Err says what failed.
type ReloadError struct {
	Refused bool
	Err     error
}

func (e *ReloadError) Error() string {
	if e.Refused {
		return "configuration refused, the running one stays: " + e.Err.Error()
	}
	return "configuration partly applied: " + e.Err.Error()
}

func (e *ReloadError) Unwrap() error { return e.Err }

// Reload applies next to the running server: the pull sources
// (video.sources), retention (video.default_retention, a source's
// retention and retention_bytes, streams.retention_bytes), the
// identities (auth.credentials with their secret files, the metrics
// token), the TLS certificate (read again even when its file names did
// not change) and, with LogLevel set, log_level. It logs and returns what
// changed and which settings need a restart. An invalid next is refused
// (*ReloadError with Refused) and the running configuration stays.
func (s *Server) Reload(next Config) (ReloadResult, error) {
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	res, err := s.reload(next)
	s.reloaded(res, err)
	return res, err
}

func (s *Server) reload(next Config) (ReloadResult, error) {
	if !s.ready.Load() {
		return ReloadResult{}, &ReloadError{Refused: true, Err: errors.New("the server is not running")}
	}
	if err := next.Validate(); err != nil {
		return ReloadResult{}, &ReloadError{Refused: true, Err: err}
	}
	next = next.clone() // the caller may change its slices afterwards
	cur := s.live.cfg
	applied, restart := s.splitLive(&cur, &next)
	res := ReloadResult{Restart: restart}
	if err := applied.Validate(); err != nil {
		err = fmt.Errorf("with the settings that need a restart kept as they run: %w", err)
		return res, &ReloadError{Refused: true, Err: err}
	}
	p, err := s.prepareReload(&applied)
	if err != nil {
		return res, &ReloadError{Refused: true, Err: err}
	}
	res.Applied = s.applyPrepared(&cur, &applied, p)
	sources, changes, err := s.reloadSources(&cur, &applied)
	res.Applied = append(res.Applied, changes...)
	applied.Video.Sources = sources
	s.live.cfg = applied
	if err != nil {
		return res, &ReloadError{Err: err}
	}
	return res, nil
}

// reloaded logs and counts a reload's outcome.
func (s *Server) reloaded(res ReloadResult, err error) {
	log := s.configLog()
	l := &s.live
	var re *ReloadError
	switch {
	case errors.As(err, &re) && re.Refused:
		l.reloads.WithLabelValues(reloadRefused).Inc()
		l.lastOK.Set(0)
		log.Error("configuration reload refused; the running configuration stays", "err", re.Err)
		return
	case errors.As(err, &re):
		l.reloads.WithLabelValues(reloadPartial).Inc()
		l.lastOK.Set(0)
		log.Error("configuration reload partly failed; the other changes apply", "err", re.Err)
	default:
		l.reloads.WithLabelValues(reloadApplied).Inc()
		l.lastOK.Set(1)
		l.lastOKTime.SetToCurrentTime()
	}
	for _, c := range res.Applied {
		log.Info("configuration reloaded", "change", c)
	}
	if len(res.Restart) > 0 {
		log.Warn("these settings changed but need a restart to take effect; the rest applies", "settings", strings.Join(res.Restart, ", "))
	}
	if len(res.Applied) == 0 && len(res.Restart) == 0 && err == nil {
		log.Info("configuration reloaded: nothing changed")
	}
}

// ---- live and restart-only settings ----

// liveSetting is a setting (one or more YAML keys) a reload can change.
type liveSetting struct {
	keys []string
	take func(dst, src *Config)
	// restart, when set, says why the change from cur to next needs a
	// restart after all ("": it does not, or nothing changed).
	restart func(s *Server, cur, next *Config) string
}

// liveSettings are what Reload changes; any other setting needs a restart.
var liveSettings = []liveSetting{
	{keys: []string{"video.sources"}, take: func(d, s *Config) { d.Video.Sources = s.Video.Sources }},
	{keys: []string{"video.default_retention"}, take: func(d, s *Config) { d.Video.DefaultRetention = s.Video.DefaultRetention }},
	{keys: []string{"streams.retention_bytes"}, take: func(d, s *Config) { d.Streams.RetentionBytes = s.Streams.RetentionBytes }},
	{keys: []string{"auth.metrics_token", "auth.metrics_token_file"}, take: func(d, s *Config) {
		d.Auth.MetricsToken, d.Auth.MetricsTokenFile = s.Auth.MetricsToken, s.Auth.MetricsTokenFile
	}},
	{keys: []string{"auth.credentials"}, take: func(d, s *Config) { d.Auth.Credentials = s.Auth.Credentials },
		restart: func(_ *Server, cur, next *Config) string {
			// Every protocol's checks are wired, or not, at start.
			if (len(cur.Auth.Credentials) == 0) != (len(next.Auth.Credentials) == 0) {
				return "auth.credentials (turning authentication on or off)"
			}
			return ""
		}},
	{keys: []string{"tls_cert", "tls_key"}, take: func(d, s *Config) { d.TLSCert, d.TLSKey = s.TLSCert, s.TLSKey },
		restart: func(_ *Server, cur, next *Config) string {
			if (cur.TLSCert == "") != (next.TLSCert == "") {
				return "tls_cert, tls_key (turning TLS on or off)"
			}
			return ""
		}},
	{keys: []string{"storage.object"}, take: func(d, s *Config) { d.Storage.Object = s.Storage.Object },
		restart: func(_ *Server, cur, next *Config) string {
			// The bucket, its credentials, the cache and the upload
			// queue are set up at start; hot changes live.
			return objectRestart(cur.Storage.Object, next.Storage.Object)
		}},
	{keys: []string{"log_level"}, take: func(d, s *Config) { d.LogLevel = s.LogLevel },
		restart: func(s *Server, cur, next *Config) string {
			if s.LogLevel == nil && !strings.EqualFold(cur.LogLevel, next.LogLevel) {
				return "log_level"
			}
			return ""
		}},
}

// objectRestart names the storage.object settings that differ between
// cur and next and only a restart changes ("": none).
func objectRestart(cur, next *ObjectStorageConfig) string {
	switch {
	case cur == nil && next == nil:
		return ""
	case cur == nil:
		return "storage.object (turning object storage on)"
	case next == nil:
		return "storage.object (turning object storage off)"
	}
	a, b := *cur, *next
	a.Hot, b.Hot = 0, 0
	return strings.Join(differingKeys(reflect.ValueOf(a), reflect.ValueOf(b), "storage.object.", nil), ", ")
}

// splitLive returns the configuration to run, cur with next's live
// settings, and the settings of next that need a restart.
func (s *Server) splitLive(cur, next *Config) (Config, []string) {
	applied := *cur
	var restart []string
	live := map[string]bool{}
	for _, ls := range liveSettings {
		for _, k := range ls.keys {
			live[k] = true
		}
		if ls.restart != nil {
			if why := ls.restart(s, cur, next); why != "" {
				restart = append(restart, why)
				continue
			}
		}
		ls.take(&applied, next)
	}
	return applied, append(restart, differingKeys(reflect.ValueOf(*cur), reflect.ValueOf(*next), "", live)...)
}

// differingKeys lists the YAML keys whose values differ between a and b
// (structs of one type), but for those in skip.
func differingKeys(a, b reflect.Value, prefix string, skip map[string]bool) []string {
	var out []string
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		key := prefix + name
		switch {
		case skip[key]:
		case f.Type.Kind() == reflect.Struct && hasYAMLKeys(f.Type):
			out = append(out, differingKeys(a.Field(i), b.Field(i), key+".", skip)...)
		case !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()):
			out = append(out, key)
		}
	}
	return out
}

// hasYAMLKeys reports whether a struct's fields are YAML keys of their
// own (a section), rather than one value written as a scalar
// (storage.min_free: "5%").
func hasYAMLKeys(t reflect.Type) bool {
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("yaml") != "" {
			return true
		}
	}
	return false
}

// clone copies c deeply: slices, maps and pointers too.
func (c Config) clone() Config {
	return deepCopy(reflect.ValueOf(c)).Interface().(Config)
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepCopy(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepCopy(v.Elem()))
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v) // unexported fields too, shallowly
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return c
	default:
		return v
	}
}

// ---- prepare (may fail: nothing changed yet), then apply ----

// reloadPlan is what a reload read and checked before changing anything.
type reloadPlan struct {
	ids          []awsauth.Identity // nil without authentication
	metricsToken string
	cert         *tls.Certificate // nil without TLS
	level        slog.Level
}

// prepareReload reads and checks what the new configuration names:
// secret files, the certificate, sources' stream names.
func (s *Server) prepareReload(c *Config) (*reloadPlan, error) {
	p := &reloadPlan{}
	var errs []error
	if s.auth.Enabled() {
		ids, err := auth.LoadIdentities(authSources(c.Auth.Credentials))
		if err == nil {
			_, err = awsauth.NewCredentials(ids, fragments.EventsSuffix)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("auth.credentials: %w", err))
		}
		p.ids = ids
	}
	tok, err := auth.LoadSecret(c.Auth.MetricsToken, c.Auth.MetricsTokenFile)
	if err != nil {
		errs = append(errs, fmt.Errorf("auth.metrics_token_file: %w", err))
	}
	p.metricsToken = tok
	if s.cert != nil {
		if p.cert, err = readKeyPair(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, err)
		}
	}
	_ = p.level.UnmarshalText([]byte(c.LogLevel)) // Validate checked it
	errs = append(errs, s.checkSources(c.Video.Sources))
	return p, errors.Join(errs...)
}

// applyPrepared applies all but the sources, which cannot fail: the
// identities, the metrics token, the certificate, the default retentions
// and the log level. It returns what changed.
func (s *Server) applyPrepared(cur, next *Config, p *reloadPlan) []string {
	var changes []string
	if ids := s.identityChanges(p.ids); s.auth.Enabled() && len(ids) > 0 {
		changes = append(changes, ids...)
		if err := s.auth.Credentials.Replace(p.ids, fragments.EventsSuffix); err != nil {
			// prepareReload built the same set without error.
			s.configLog().Error("identities not replaced", "err", err)
		}
	}
	if p.metricsToken != s.auth.CurrentMetricsToken() {
		s.auth.SetMetricsToken(p.metricsToken)
		changes = append(changes, "auth.metrics_token: replaced")
	}
	if p.cert != nil {
		if old := s.cert.cur.Load(); !sameCertificate(old, p.cert) || cur.TLSCert != next.TLSCert || cur.TLSKey != next.TLSKey {
			changes = append(changes, "tls_cert: reloaded from "+next.TLSCert)
		}
		s.cert.set(next.TLSCert, next.TLSKey, p.cert)
	}
	if cur.Video.DefaultRetention != next.Video.DefaultRetention {
		s.videos.SetDefaultRetentionHours(int(time.Duration(next.Video.DefaultRetention) / time.Hour))
		changes = append(changes, fmt.Sprintf("video.default_retention: %s (was %s) for streams created from now on", next.Video.DefaultRetention, cur.Video.DefaultRetention))
	}
	if cur.Streams.RetentionBytes != next.Streams.RetentionBytes {
		s.core.SetRetentionBytes(int64(next.Streams.RetentionBytes))
		changes = append(changes, fmt.Sprintf("streams.retention_bytes: %s (was %s)", next.Streams.RetentionBytes, cur.Streams.RetentionBytes))
	}
	if o, n := cur.Storage.Object, next.Storage.Object; o != nil && n != nil && s.tier != nil {
		if o.Hot != n.Hot {
			s.objectHot.Store(int64(n.Hot))
			changes = append(changes, fmt.Sprintf("storage.object.hot: %s (was %s) for streams without an %s tag", shortHot(n.Hot), shortHot(o.Hot), fragments.HotTag))
		}
	}
	if s.LogLevel != nil && s.LogLevel.Level() != p.level {
		s.LogLevel.Set(p.level)
		changes = append(changes, "log_level: "+next.LogLevel)
	}
	return changes
}

// identityChanges describes how ids differ from the identities in force.
// Eddy tokens, UI sessions and HLS sessions of a removed identity, or one whose
// secret changed, fail their next check.
func (s *Server) identityChanges(ids []awsauth.Identity) []string {
	var out []string
	kept := map[string]bool{}
	for _, id := range ids {
		kept[id.AccessKeyID] = true
		old, ok := s.auth.Credentials.Lookup(id.AccessKeyID)
		switch {
		case !ok:
			out = append(out, "auth.credentials["+id.AccessKeyID+"]: added")
		case old.Secret != id.Secret:
			out = append(out, "auth.credentials["+id.AccessKeyID+"]: secret replaced (its tokens and sessions end)")
		case !reflect.DeepEqual(old.Rules, id.Rules):
			out = append(out, "auth.credentials["+id.AccessKeyID+"]: permissions changed")
		}
	}
	for _, cr := range s.live.cfg.Auth.Credentials {
		if !kept[cr.AccessKeyID] {
			out = append(out, "auth.credentials["+cr.AccessKeyID+"]: removed (its tokens and sessions end)")
		}
	}
	slices.Sort(out)
	return out
}

// sameCertificate reports whether two key pairs hold the same chain.
func sameCertificate(a, b *tls.Certificate) bool {
	if a == nil || b == nil || len(a.Certificate) != len(b.Certificate) {
		return false
	}
	for i := range a.Certificate {
		if !bytes.Equal(a.Certificate[i], b.Certificate[i]) {
			return false
		}
	}
	return true
}

// configLog is the logger of the configuration's changes: the one place
// the server names that component.
func (s *Server) configLog() *slog.Logger { return s.Logger.With("component", "config") }
