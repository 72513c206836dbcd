package hls

import (
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Operation names of the HLS endpoints, as Kinesis Video names them in
// CloudWatch (GetMP4MediaPart is Eddy's own: LL-HLS parts).
var operations = map[string]string{
	pathMaster: "GetHLSMasterPlaylist",
	pathMedia:  "GetHLSMediaPlaylist",
	pathInit:   "GetMP4InitFragment",
	pathFrag:   "GetMP4MediaFragment",
	pathTS:     "GetTSFragment",
	pathPart:   "GetMP4MediaPart",
}

// sessionWindow is how recently a session must have made a request to be
// counted open: a player polls its media playlist every few seconds and
// fetches a segment as often.
const sessionWindow = 30 * time.Second

// sessionGauge counts the HLS sessions seen in the last sessionWindow,
// by stream (eddy_hls_sessions). Sessions are stateless tokens, so a
// session is open as long as it makes requests.
type sessionGauge struct {
	desc  *prometheus.Desc
	label func(string) string

	mu     sync.Mutex
	seen   map[sessionKey]time.Time // last request
	pruned time.Time
}

// sessionKey identifies a session: its stream and the instant it was
// issued.
type sessionKey struct {
	stream string
	issued int64
}

func newSessionGauge(label func(string) string) *sessionGauge {
	return &sessionGauge{label: label, seen: map[sessionKey]time.Time{},
		desc: prometheus.NewDesc("eddy_hls_sessions",
			"HLS sessions that made a request in the last 30 s, by stream.", []string{"stream"}, nil)}
}

func (g *sessionGauge) touch(sess *session, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen[sessionKey{sess.Stream, sess.Issued}] = now
	// Forget idle sessions here too, so that the map stays small on a
	// server nobody scrapes.
	if now.Sub(g.pruned) > sessionWindow {
		g.pruneLocked(now)
	}
}

// pruneLocked forgets the sessions idle for longer than sessionWindow.
func (g *sessionGauge) pruneLocked(now time.Time) {
	g.pruned = now
	for k, t := range g.seen {
		if now.Sub(t) > sessionWindow {
			delete(g.seen, k)
		}
	}
}

func (g *sessionGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *sessionGauge) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	counts := map[string]int{}
	g.mu.Lock()
	g.pruneLocked(now)
	for k := range g.seen {
		counts[k.stream]++
	}
	g.mu.Unlock()
	byLabel := map[string]int{}
	for name, n := range counts {
		byLabel[g.label(name)] += n
	}
	for label, n := range byLabel {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), label)
	}
}

// DeletePartialMatch forgets the sessions of a deleted stream (the
// server's registry calls it as it does a vector's).
func (g *sessionGauge) DeletePartialMatch(labels prometheus.Labels) int {
	name := labels["stream"]
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for k := range g.seen {
		if k.stream == name {
			delete(g.seen, k)
			n++
		}
	}
	return n
}

// get mounts an HLS endpoint, counted under its operation.
func (s *Server) get(r chi.Router, path string, h http.HandlerFunc) {
	r.Get("/hls/v1/"+path, s.cors(s.Metrics.Instrument(operations[path], h)))
}
