package rtpcodec

import (
	"context"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// countingTimer gives a packet the PTS of its RTP timestamp once its
// track has started (the first packet of each track is refused, as
// gortsplib refuses packets before a track can start), and counts calls.
type countingTimer struct {
	started map[*description.Media]bool
	calls   map[*description.Media]int
}

func (c *countingTimer) PacketPTS2(m *description.Media, pkt *rtp.Packet) (int64, bool) {
	c.calls[m]++
	if !c.started[m] {
		c.started[m] = true
		return 0, false
	}
	return int64(pkt.Timestamp), true
}

// TestIngestPTSOncePerTimestamp: once every track has started, the timer
// is asked once per new RTP timestamp of a track, not per packet, and
// units get the same PTS as when it is asked for every packet.
func TestIngestPTSOncePerTimestamp(t *testing.T) {
	medias, pkts, track := benchSecond(t)
	run := func(extraTrack bool) (*countingTimer, []*media.AccessUnit) {
		tracks, err := SelectTracks(medias, true, mediatest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		timer := &countingTimer{started: map[*description.Media]bool{}, calls: map[*description.Media]int{}}
		in := &Ingest{Timer: timer, Log: mediatest.Logger(), Tracks: tracks}
		if extraTrack {
			// A track that never starts: every packet asks the timer.
			in.Tracks = append(in.Tracks[:len(in.Tracks):len(in.Tracks)], &IngestTrack{})
		}
		in.Hub = &media.Hub{Tracks: TracksOf(tracks)}
		r, err := in.Hub.NewFirstReader()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range pkts {
			var pkt rtp.Packet
			if err := pkt.Unmarshal(append([]byte(nil), p...)); err != nil {
				t.Fatal(err)
			}
			in.Handle(tracks[track[i]], &pkt)
		}
		in.Hub.Close()
		var aus []*media.AccessUnit
		for {
			au, err := r.Read(context.Background())
			if err != nil {
				break
			}
			aus = append(aus, au)
		}
		return timer, aus
	}
	cached, got := run(false)
	every, want := run(true)

	// Expected calls: every packet until both tracks started (each
	// track's second packet: the timer refuses the first), then one per
	// change of a track's timestamp.
	packets, want1 := map[int]int{}, map[int]int{}
	seen, last := map[int]int{}, map[int]uint32{}
	for i, p := range pkts {
		var h rtp.Header
		if _, err := h.Unmarshal(p); err != nil {
			t.Fatal(err)
		}
		tr := track[i]
		packets[tr]++
		if seen[0] < 2 || seen[1] < 2 || h.Timestamp != last[tr] {
			want1[tr]++
		}
		seen[tr]++
		last[tr] = h.Timestamp
	}
	for i, m := range medias {
		if every.calls[m] != packets[i] {
			t.Errorf("track %d, not all started: %d timer calls for %d packets", i, every.calls[m], packets[i])
		}
		if cached.calls[m] != want1[i] {
			t.Errorf("track %d: %d timer calls for %d packets, want %d", i, cached.calls[m], packets[i], want1[i])
		}
	}
	if want1[0] >= packets[0]*2/3 {
		t.Fatalf("the stream does not test much: %d of %d video packets ask", want1[0], packets[0])
	}
	if len(got) != len(want) || len(got) < 60 {
		t.Fatalf("%d units cached, %d not", len(got), len(want))
	}
	for i := range got {
		if got[i].Track != want[i].Track || got[i].PTS != want[i].PTS || got[i].DTS != want[i].DTS {
			t.Fatalf("unit %d: track %d PTS %d DTS %d, want track %d PTS %d DTS %d", i,
				got[i].Track, got[i].PTS, got[i].DTS, want[i].Track, want[i].PTS, want[i].DTS)
		}
	}
	t.Logf("video: %d packets, %d timer calls", packets[0], cached.calls[medias[0]])
}
