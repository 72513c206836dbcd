package web

import (
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/media"
)

// bitrateWindow is how much recent recording the bitrate is computed over.
const bitrateWindow = 30 * time.Second

// streamInfo is one row of GET /api/v1/streams.
type streamInfo struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Live   bool   `json:"live"`
	// State is live (published now), offline (has recorded) or empty.
	State  string   `json:"state"`
	Codecs []string `json:"codecs"`
	// BitrateBps is the bitrate of the last bitrateWindow of recording
	// while the stream is live; 0 when it is not.
	BitrateBps     int64 `json:"bitrateBps"`
	RetentionHours int   `json:"retentionHours"`
	StoredBytes    int64 `json:"storedBytes"`
	// LocalBytes, BucketBytes and PendingBytes are, with object storage,
	// the stream's bytes on local disk, uploaded to the bucket (hot or
	// cold) and waiting for upload; absent without it.
	LocalBytes    *int64     `json:"localBytes,omitempty"`
	BucketBytes   *int64     `json:"bucketBytes,omitempty"`
	PendingBytes  *int64     `json:"pendingBytes,omitempty"`
	FirstFragment *time.Time `json:"firstFragment,omitempty"`
	LastFragment  *time.Time `json:"lastFragment,omitempty"`
	// RecentFragments is the number of fragments in the bitrate window.
	RecentFragments int `json:"recentFragments"`
	// LastActivity is when the last fragment ended, by the server's clock.
	LastActivity *time.Time `json:"lastActivity,omitempty"`
	// EventsToday counts the timeline events since eventsSince (at most
	// eventsCountCap).
	EventsToday int `json:"eventsToday"`
	// MaxBytes is the stream's size cap (0: none): the one its store
	// enforces (its eddy:max-bytes tag, or its pull source's
	// retention_bytes).
	MaxBytes int64 `json:"maxBytes"`
	// Source is the pull source feeding the stream, if any.
	Source *streamSource `json:"source,omitempty"`
	// Playback says whether the codecs play over HLS and WebRTC (WHEP), from
	// the live tracks, else from the last recorded fragment's; WebRTC
	// needs the stream live besides.
	Playback media.Playback `json:"playback"`
	// Access is what the session's identity may do with the stream.
	Access streamAccess `json:"access"`
}

// streamSource is the state of the pull source of a stream.
type streamSource struct {
	URL         string     `json:"url"`
	State       string     `json:"state"`
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt *time.Time `json:"lastErrorAt,omitempty"`
}

// Counting the events of the list: every stream's count walks the index
// entries of its timeline from eventsSince on (quarter-hour buckets, no
// event decoded), stopping at eventsCountCap; eventsSince may go back at
// most eventsMaxSpan, so a request reads at most that many buckets of
// each stream.
const (
	eventsCountCap = 10000
	eventsMaxSpan  = 7 * 24 * time.Hour
)

// streamAccess is what the UI may offer for a stream: HLS (list,
// timeline, playback: hls:read), WebRTC live view (webrtc:read), clip
// downloads (kinesisvideo:GetClip), publishing (webrtc:publish).
type streamAccess struct {
	HLS     bool `json:"hls"`
	WebRTC  bool `json:"webrtc"`
	Clip    bool `json:"clip"`
	Publish bool `json:"publish"`
}

func accessTo(p *Principal, name string) streamAccess {
	return streamAccess{HLS: p.Allowed(actionHLS, name), WebRTC: p.Allowed(actionWebRTC, name),
		Clip: p.Allowed(actionClip, name), Publish: p.Allowed(actionPublish, name)}
}

// listStreams answers GET /api/v1/streams: the streams the identity may
// watch (hls:read or webrtc:read), and what it may do with each.
func (h *Handler) listStreams(w http.ResponseWriter, r *http.Request) {
	p := h.principal(w, r)
	if p == nil {
		return
	}
	now := h.Now()
	since := now.Add(-24 * time.Hour)
	if v := r.URL.Query().Get("eventsSince"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			h.writeError(w, badRequest("eventsSince must be an RFC 3339 time, e.g. 2026-12-06T00:00:00+01:00"))
			return
		}
		if now.Sub(t) > eventsMaxSpan {
			h.writeError(w, badRequest("eventsSince may go back at most 7 days"))
			return
		}
		since = t
	}
	sources := map[string]*streamSource{}
	for _, src := range h.sources() {
		sources[src.Stream] = &streamSource{URL: src.URL, State: src.State, LastError: src.LastError, LastErrorAt: src.LastErrorAt}
	}
	live := map[string][]string{}
	liveTracks := map[string][]media.Track{}
	if h.Registry != nil {
		for _, n := range h.Registry.Names() {
			hub, ok := h.Registry.Hub(n)
			if !ok {
				continue
			}
			cs := make([]string, 0, len(hub.Tracks))
			for _, t := range hub.Tracks {
				cs = append(cs, t.Codec)
			}
			live[n] = cs
			liveTracks[n] = hub.Tracks
		}
	}
	h.mu.Lock()
	for n, cs := range live {
		h.codecs[n] = cs
	}
	h.mu.Unlock()

	streams := h.Manager.List()
	out := make([]streamInfo, 0, len(streams))
	for _, vs := range streams {
		acc := accessTo(p, vs.Name)
		if !acc.HLS && !acc.WebRTC {
			continue
		}
		cs, isLive := live[vs.Name]
		if !isLive {
			h.mu.Lock()
			cs = h.codecs[vs.Name]
			h.mu.Unlock()
		}
		if cs == nil {
			cs = []string{}
		}
		si := streamInfo{Name: vs.Name, Status: vs.Status, Live: isLive, State: "empty", Codecs: cs, RetentionHours: vs.DataRetentionInHours, Access: acc,
			MaxBytes: max(vs.RetentionBytes, 0), Source: sources[vs.Name]}
		if h.Tiering != nil {
			if u, ok := h.Tiering(vs.Name); ok {
				si.LocalBytes, si.BucketBytes, si.PendingBytes = &u.LocalBytes, &u.BucketBytes, &u.PendingBytes
			}
		}
		tracks := liveTracks[vs.Name]
		if st, err := h.Manager.Store(vs.Name); err == nil {
			h.fillStore(&si, st, isLive)
			si.EventsToday = countEvents(st, since)
			if !isLive {
				tracks = recordedTracks(st)
				if len(si.Codecs) == 0 {
					for _, t := range tracks {
						si.Codecs = append(si.Codecs, t.Codec)
					}
				}
			}
		}
		switch {
		case isLive:
			si.State = "live"
		case si.LastActivity != nil:
			si.State = "offline"
		}
		si.Playback = media.PlaybackOf(tracks)
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, out)
}

// recordedTracks describes the tracks of the last recorded fragment (nil
// when there is none or its init segment is unreadable).
func recordedTracks(st *fragments.Store) []media.Track {
	last, ok := st.Last()
	if !ok {
		return nil
	}
	b, err := st.Init(last.InitID)
	if err != nil {
		return nil
	}
	tracks, _ := cmaf.InitTracks(b)
	return tracks
}

// fillStore adds what the store knows: the first and last fragment
// (producer time), the size, and, while the stream is live, the bitrate of
// the last bitrateWindow of recording (by server time, which never goes
// backwards): what an offline stream recorded last is no live figure, and
// is not read.
func (h *Handler) fillStore(si *streamInfo, st *fragments.Store, live bool) {
	si.StoredBytes = st.Size()
	last, ok := st.Last()
	if !ok {
		return
	}
	lt := time.Unix(0, last.ProducerTime+last.Duration).UTC()
	si.LastFragment = &lt
	la := time.Unix(0, last.ServerTime+last.Duration).UTC()
	si.LastActivity = &la
	if first, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Unix(0, last.ServerTime), 0, 1); err == nil && len(first) == 1 {
		ft := time.Unix(0, first[0].ProducerTime).UTC()
		si.FirstFragment = &ft
	}
	if !live {
		return
	}
	end := time.Unix(0, last.ServerTime)
	recent, _, err := st.List(fragments.IndexServerTime, end.Add(-bitrateWindow), end, 0, 1000)
	if err != nil {
		return
	}
	var bytes, dur int64
	for _, e := range recent {
		bytes += e.Size
		dur += e.Duration
	}
	si.RecentFragments = len(recent)
	if dur > 0 {
		si.BitrateBps = int64(float64(bytes*8) / (float64(dur) / float64(time.Second)))
	}
}

// countEvents counts the timeline events of st that overlap [since, ∞),
// up to eventsCountCap (0 when it has no timeline or its index fails: the
// list does not fail for a count).
func countEvents(st *fragments.Store, since time.Time) int {
	tl := st.Timeline()
	if tl == nil {
		return 0
	}
	n, _ := tl.Count(since.UnixNano(), math.MaxInt64, eventsCountCap)
	return n
}
