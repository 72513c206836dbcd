package rtpcodec

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
)

// PacketTimer gives the presentation time of received RTP packets: both
// *gortsplib.ServerSession (RECORD) and *gortsplib.Client (PLAY) are.
type PacketTimer interface {
	PacketPTS2(*description.Media, *rtp.Packet) (int64, bool)
}

// Ingest decodes the RTP of one publication (an RTSP publisher or a
// pulled Source) into access units published on its hub.
type Ingest struct {
	Hub    *media.Hub
	Timer  PacketTimer
	Log    *slog.Logger
	Tracks []*IngestTrack

	started    atomic.Int32 // tracks the timer gave a PTS
	allStarted atomic.Bool
}

// packetPTS returns the PTS of pkt. The packets of one picture share its
// RTP timestamp, so once every track has started only a packet with a new
// timestamp asks the timer; the others get the PTS of the track's last
// packet. That is the same value: gortsplib's GlobalDecoder2 adds the
// timestamp's difference from the track's previous one (zero), and what
// else it does per packet (the leading track's start time) only serves
// tracks that have not started yet. The timer takes a lock, a map lookup
// and a codec check per call: ~2.5% of the server's CPU at 100 streams
// for every packet, a video picture being 5–10 packets at 2 Mbit/s.
func (in *Ingest) packetPTS(it *IngestTrack, pkt *rtp.Packet) (int64, bool) {
	if it.started && pkt.Timestamp == it.lastTS && in.allStarted.Load() {
		return it.lastPTS, true
	}
	pts, ok := in.Timer.PacketPTS2(it.Media, pkt)
	if !ok {
		return 0, false
	}
	if !it.started {
		it.started = true
		if int(in.started.Add(1)) == len(in.Tracks) {
			in.allStarted.Store(true)
		}
	}
	it.lastTS, it.lastPTS = pkt.Timestamp, pts
	return pts, true
}

// Handle decodes one packet of it and publishes the units it completes.
// It is called by one goroutine at a time per track. pkt.Payload must be
// a buffer of its own, never written after the call: H.264 and H.265
// units keep slices of it (see filterNALUs).
func (in *Ingest) Handle(it *IngestTrack, pkt *rtp.Packet) {
	arrival := time.Now()
	pts, ok := in.packetPTS(it, pkt)
	if !ok {
		return // the track has not reached a point where time can start
	}
	ntp := it.clock.at(pkt.SSRC, pkt.Timestamp, it.dec.track.ClockRate)
	aus, err := it.dec.decode(pkt, packetTime{pts: pts, ntp: ntp, arrival: arrival})
	if err != nil {
		n := it.skipped.Add(1)
		if ok, held := it.limiter.Allow(); ok {
			in.Log.Warn("skipping malformed RTP", "track", it.dec.track.ID, "codec", it.dec.track.Codec,
				"error", err, "skipped_total", n, "not_logged", held)
		}
	}
	for _, au := range aus {
		in.Hub.Publish(au)
	}
}

// HandleRTCP takes the sender reports of it's media.
func (in *Ingest) HandleRTCP(it *IngestTrack, pkt rtcp.Packet) {
	if sr, ok := pkt.(*rtcp.SenderReport); ok {
		it.clock.update(sr)
	}
}
