package bench

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// rtcSample is one frame at one viewer.
type rtcSample struct {
	at          int64 // last packet received (ns)
	first, last time.Duration
}

type rtcViewer struct {
	pc      *pion.PeerConnection
	session string

	mu      sync.Mutex
	samples []rtcSample
	frames  []int64 // receive time of each complete frame (ns)
}

// startViewer connects one WHEP viewer.
func (b *rtcBench) startViewer(ctx context.Context, stream string) (*rtcViewer, error) {
	v := &rtcViewer{}
	var err error
	v.pc, err = newRecvPeer(b.api, func(tr *pion.TrackRemote) {
		dec := &rtph264.Decoder{}
		if err := dec.Init(); err != nil {
			return
		}
		var curTS uint32
		var frameFirst int64
		started := false
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now().UnixNano()
			if !started || pkt.Timestamp != curTS {
				started, curTS, frameFirst = true, pkt.Timestamp, now
			}
			au, err := dec.Decode(pkt)
			if err != nil {
				continue
			}
			seq, ok := seiSeq(au)
			v.mu.Lock()
			v.frames = append(v.frames, now)
			if ok {
				if sent := b.sentAt(seq); sent > 0 {

					v.samples = append(v.samples, rtcSample{at: now, first: time.Duration(frameFirst - sent), last: time.Duration(now - sent)})
				}
			}
			v.mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	v.session, _, _, err = whepclient.Negotiate(ctx, b.hc, b.url+"/webrtc/"+stream+"/whep", v.pc)
	if err != nil {
		v.pc.Close()
		return nil, err
	}
	return v, nil
}

// newRecvPeer is a receive-only peer connection (one video and one audio
// transceiver) that hands the video track to video, in its own goroutine,
// and reads and discards the audio.
func newRecvPeer(api *pion.API, video func(*pion.TrackRemote)) (*pion.PeerConnection, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() == pion.RTPCodecTypeVideo {
			video(tr)
			return
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	return pc, nil
}

func (v *rtcViewer) close(ctx context.Context, hc *http.Client) {
	if v.session != "" {
		_, _ = whepclient.EndSession(ctx, hc, v.session)
	}
	v.pc.Close()
}

// window returns v's samples and frame times in [from, to].
func (v *rtcViewer) window(from, to int64) (s []rtcSample, frames []int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, x := range v.samples {
		if x.at >= from && x.at <= to {
			s = append(s, x)
		}
	}
	for _, f := range v.frames {
		if f >= from && f <= to {
			frames = append(frames, f)
		}
	}
	return s, frames
}
