package hls

import "github.com/eddy-video/eddy/fragments"

// Playback modes, selectors and options of a session (the members of
// GetHLSStreamingSessionURL).
const (
	ModeLive     = 1
	ModeReplay   = 2 // LIVE_REPLAY
	ModeOnDemand = 3

	DiscAlways = 1
	DiscNever  = 2
	DiscOnDisc = 3 // ON_DISCONTINUITY

	ContainerFMP4 = 1 // FRAGMENTED_MP4
	ContainerTS   = 2 // MPEG_TS
)

// session is what a SessionToken carries. The token is the session: the
// server keeps no state per viewer.
type session struct {
	Mode       byte
	Producer   bool // PRODUCER_TIMESTAMP selector (else SERVER_TIMESTAMP)
	Disc       byte
	ShowTime   bool // DisplayFragmentTimestamp ALWAYS
	Container  byte // ContainerFMP4 or ContainerTS
	MaxResults uint32
	Start, End int64  // Unix ns; End 0 = open
	Expires    int64  // Unix seconds
	Issued     int64  // Unix ns (LIVE_REPLAY paces from it)
	Created    int64  // the stream's creation (Unix ms): a token outlives no deleted stream
	Anchor     uint64 // LIVE: the first fragment the session could list (discontinuity numbering)
	Stream     string
	// Identity is the access key id that opened the session ("" when Eddy
	// has no credentials): every request re-checks it may still.
	Identity string
	// SecretTag binds the session to the secret Identity had when it was
	// opened (signer.secretTag).
	SecretTag [secretTagSize]byte
	// UI: the web UI opened the session for a signed-in user, whose
	// permission to keep watching is hls:read rather than the API action.
	UI bool
}

// action is what the session's identity must still be allowed on its
// stream for each request to be answered.
func (sess *session) action() string {
	if sess.UI {
		return ActionUI
	}
	return ActionAPI
}

// The actions a session re-checks.
const (
	ActionAPI = "kinesisvideo:GetHLSStreamingSessionURL"
	ActionUI  = "hls:read"
)

func (sess *session) kind() fragments.IndexTime {
	if sess.Producer {
		return fragments.IndexProducerTime
	}
	return fragments.IndexServerTime
}

// version is the EXT-X-VERSION of a session's playlists (RFC 8216 §7):
// 7 for fMP4 segments (EXT-X-MAP without EXT-X-I-FRAMES-ONLY), 3 for TS
// (decimal EXTINF durations).
func (sess *session) version() int {
	if sess.Container == ContainerTS {
		return 3
	}
	return 7
}

// covers reports whether a session may read a fragment: its range for
// ON_DEMAND and LIVE_REPLAY, anything since the anchor for LIVE.
func (sess *session) covers(e fragments.IndexEntry) bool {
	if sess.Mode == ModeLive {
		return e.Seq >= sess.Anchor
	}
	t := sess.timeOf(&e)
	return t >= sess.Start && (sess.End == 0 || t <= sess.End)
}

// timeOf returns a fragment's time on the session's selector.
func (sess *session) timeOf(e *fragments.IndexEntry) int64 {
	if sess.Producer {
		return e.ProducerTime
	}
	return e.ServerTime
}
