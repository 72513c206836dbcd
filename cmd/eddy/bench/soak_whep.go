package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// soakViewer is one WHEP viewer of the soak: it reassembles the video's
// access units from RTP (no decoding) and reads the SEI number each
// camera puts in front of every frame it sends (seiNAL, numbered per
// camera). Within one connection the numbers received must follow each
// other: a number skipped is a frame the camera sent and this viewer never
// got (lost, exactly), a number again or backwards a duplicate. A viewer
// whose connection fails, or which gets no frame for stallAfter,
// reconnects; each such end is a failure.
type soakViewer struct {
	id     int
	stream string
	dropAt int64 // fault: treat the frame received as this one (1 = the first) as lost; 0 = none

	mu       sync.Mutex
	connects int
	up       bool
	failures int
	errs     []string // the first few failures
	frames   int64    // frames received and numbered
	unnamed  int64    // access units without the bench's SEI
	lost     int64
	dupes    int64
	last     uint64 // SEI number of the last frame of this connection; 0 = none yet
	lastAt   time.Time
	received int64 // frames received over the viewer's life (for dropAt)

	// RTP packets put back in order (recovered by a NACK), and sequence
	// numbers never received, over the viewer's life; prev* are the
	// connections' before this one.
	reordered, givenUp         int64
	prevReordered, prevGivenUp int64
}

// stallAfter is how long a connected viewer waits for a frame before it
// counts a failure and reconnects (the cameras send 25 a second).
const stallAfter = 5 * time.Second

// run keeps the viewer connected until ctx ends.
func (v *soakViewer) run(ctx context.Context, api *pion.API, hc *http.Client, url string) {
	for ctx.Err() == nil {
		err := v.session(ctx, api, hc, url+"/webrtc/"+v.stream+"/whep")
		if ctx.Err() != nil {
			return
		}
		v.fail(err)
		if sleepCtx(ctx, time.Second) != nil {
			return
		}
	}
}

func (v *soakViewer) fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.failures++
	v.up = false
	if len(v.errs) < 5 {
		v.errs = append(v.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
	}
}

// session is one connection: it returns when ctx ends (nil), the peer
// connection fails or closes, or no frame came for stallAfter.
func (v *soakViewer) session(ctx context.Context, api *pion.API, hc *http.Client, endpoint string) error {
	ended := make(chan error, 1)
	pc, err := newRecvPeer(api, v.readVideo)
	if err != nil {
		return err
	}
	defer pc.Close()
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		if st == pion.PeerConnectionStateFailed || st == pion.PeerConnectionStateClosed {
			select {
			case ended <- fmt.Errorf("peer connection %s", st):
			default:
			}
		}
	})
	session, _, _, err := whepclient.Negotiate(ctx, hc, endpoint, pc)
	if err != nil {
		return fmt.Errorf("WHEP: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = whepclient.EndSession(cctx, hc, session)
	}()
	v.mu.Lock()
	v.connects++
	v.up, v.last, v.lastAt = true, 0, time.Now()
	v.prevReordered, v.prevGivenUp = v.reordered, v.givenUp
	v.mu.Unlock()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ended:
			return err
		case <-tick.C:
			v.mu.Lock()
			quiet := time.Since(v.lastAt)
			v.mu.Unlock()
			if quiet > stallAfter {
				return fmt.Errorf("no frame for %v", quiet.Round(time.Second))
			}
		}
	}
}

// readVideo reads the video track until it ends.
func (v *soakViewer) readVideo(tr *pion.TrackRemote) {
	dec := &rtph264.Decoder{}
	if err := dec.Init(); err != nil {
		return
	}
	var ro rtpReorder
	emit := func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets of the unit to come, or a lost one
		}
		seq, ok := seiSeq(au)
		v.frame(seq, ok)
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		ro.push(pkt, time.Now(), emit)
		v.mu.Lock()
		v.reordered, v.givenUp = v.prevReordered+ro.reordered, v.prevGivenUp+ro.givenUp
		v.mu.Unlock()
	}
}

// frame accounts for one access unit received.
func (v *soakViewer) frame(seq uint64, named bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastAt = time.Now()
	if !named {
		v.unnamed++
		return
	}
	v.received++
	if v.received == v.dropAt {
		return // the injected fault: as if this frame never came
	}
	switch {
	case v.last == 0:
	case seq > v.last+1:
		v.lost += int64(seq - v.last - 1)
	case seq <= v.last:
		v.dupes++
		return
	}
	v.frames++
	v.last = seq
}

// soakWHEP is what the WHEP viewers did.
type soakWHEP struct {
	Viewers    int      `json:"viewers"`
	Connected  int      `json:"connected_at_end"`
	Connects   int      `json:"connects"`
	Failures   int      `json:"failures"` // connections that failed, stalled or could not be made
	Frames     int64    `json:"frames_received"`
	Lost       int64    `json:"frames_lost"` // numbers skipped within a connection
	Duplicates int64    `json:"frames_duplicated"`
	Unnamed    int64    `json:"units_without_sei"`
	Reordered  int64    `json:"rtp_packets_reordered"` // put back in order: recovered by a NACK
	GivenUp    int64    `json:"rtp_packets_missing"`   // never received within the reorder wait
	Problems   []string `json:"problems,omitempty"`
}

// summarize adds up the viewers (also while they run: progress lines).
func summarizeViewers(viewers []*soakViewer) soakWHEP {
	w := soakWHEP{Viewers: len(viewers)}
	for _, v := range viewers {
		v.mu.Lock()
		if v.up {
			w.Connected++
		}
		w.Connects += v.connects
		w.Failures += v.failures
		w.Frames += v.frames
		w.Lost += v.lost
		w.Duplicates += v.dupes
		w.Unnamed += v.unnamed
		w.Reordered += v.reordered
		w.GivenUp += v.givenUp
		if len(v.errs) > 0 && len(w.Problems) < 20 {
			w.Problems = append(w.Problems, fmt.Sprintf("viewer %d (%s): %d failure(s): %v", v.id, v.stream, v.failures, v.errs))
		}
		if (v.lost > 0 || v.dupes > 0 || v.givenUp > 0) && len(w.Problems) < 20 {
			w.Problems = append(w.Problems, fmt.Sprintf("viewer %d (%s): %d frames lost, %d duplicated; %d RTP packets never came", v.id, v.stream, v.lost, v.dupes, v.givenUp))
		}
		v.mu.Unlock()
	}
	return w
}
