package rtpcodec

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

// RTPIngest publishes RTP received by a protocol adapter other than RTSP
// (WebRTC WHIP) through the same codec boundary as RTSP RECORD: each media
// of the publication is described as an RTSP media (one format), and its
// packets become access units on the hub.
//
// Timing: there is no RTSP session to anchor the tracks, so each track's
// time starts when its first packet arrives, measured from the first packet
// of the publication, and follows its RTP timestamps from there. RTCP
// sender reports, when the publisher sends them, give the units' NTP time.
type RTPIngest struct {
	in     *Ingest
	timer  *arrivalTimer
	medias []*description.Media
}

// NewRTPIngest selects the tracks of medias: every media must carry one
// supported format, else the error is an *UnsupportedCodecError (or
// ErrTooManyTracks). Call Start with the publication's hub before the
// first WriteRTP.
func NewRTPIngest(medias []*description.Media, log *slog.Logger) (*RTPIngest, error) {
	if log == nil {
		log = slog.Default()
	}
	for _, m := range medias {
		if m.IsBackChannel {
			return nil, errors.New("media: back channels are not ingested")
		}
	}
	tracks, err := SelectTracks(medias, true, log)
	if err != nil {
		return nil, err
	}
	t := &arrivalTimer{tracks: map[*description.Media]*arrivalTrack{}}
	for _, it := range tracks {
		t.tracks[it.Media] = &arrivalTrack{clockRate: it.dec.track.ClockRate}
	}
	return &RTPIngest{in: &Ingest{Timer: t, Log: log, Tracks: tracks}, timer: t, medias: medias}, nil
}

// Tracks returns the tracks to publish, in the order of the medias.
func (g *RTPIngest) Tracks() []media.Track { return TracksOf(g.in.Tracks) }

// Start sets the hub the units go to.
func (g *RTPIngest) Start(h *media.Hub) { g.in.Hub = h }

// WriteRTP takes one packet of media i. Packets of one media must come
// from one goroutine at a time; different medias may be concurrent. As
// with Ingest.Handle, pkt.Payload must be a buffer of its own, never
// written after the call (pion's TrackRemote.ReadRTP allocates one per
// packet).
func (g *RTPIngest) WriteRTP(i int, pkt *rtp.Packet) {
	if i < 0 || i >= len(g.in.Tracks) || g.in.Hub == nil {
		return
	}
	g.in.Handle(g.in.Tracks[i], pkt)
}

// WriteRTCP takes one RTCP packet about media i (sender reports set the
// NTP time of its units).
func (g *RTPIngest) WriteRTCP(i int, pkt rtcp.Packet) {
	if i < 0 || i >= len(g.in.Tracks) {
		return
	}
	g.in.HandleRTCP(g.in.Tracks[i], pkt)
}

// arrivalTimer is the PacketTimer of an RTPIngest.
type arrivalTimer struct {
	mu     sync.Mutex
	start  time.Time // first packet of the publication
	tracks map[*description.Media]*arrivalTrack
}

type arrivalTrack struct {
	clockRate int
	started   bool
	last      uint32 // last RTP timestamp
	pts       int64  // PTS of last
}

// PacketPTS2 returns the PTS of pkt in its track's clock rate.
func (t *arrivalTimer) PacketPTS2(m *description.Media, pkt *rtp.Packet) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr, ok := t.tracks[m]
	if !ok || tr.clockRate <= 0 {
		return 0, false
	}
	if !tr.started {
		now := time.Now()
		if t.start.IsZero() {
			t.start = now
		}
		tr.started, tr.last = true, pkt.Timestamp
		tr.pts = int64(now.Sub(t.start)) * int64(tr.clockRate) / int64(time.Second)
		return tr.pts, true
	}
	// Signed difference: reordered packets step back, wraps step forward.
	tr.pts += int64(int32(pkt.Timestamp - tr.last))
	tr.last = pkt.Timestamp
	return tr.pts, true
}
