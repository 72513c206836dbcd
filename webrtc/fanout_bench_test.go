package webrtc_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/webrtc"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// fanoutViewer counts the frames (RTP packets with the marker bit) one
// WHEP viewer got, and when each frame's first packet arrived.
type fanoutViewer struct {
	mu     sync.Mutex
	cond   *sync.Cond
	frames int
	first  map[uint32]time.Time // RTP timestamp → first packet read
	ts     []uint32             // RTP timestamps in arrival order
}

// BenchmarkWHEPFanout is the WHEP fan-out path end to end on loopback:
// one H.264 publication (a 60 KB keyframe every 50 frames, 10 KB frames
// between, as a 2 Mbit/s 25 fps camera) played by N pion viewers in this
// process. Each iteration publishes one frame and waits until every
// viewer has its last packet. ns/frame/viewer and allocs/op include the
// viewers' receiving (the same before and after a server change);
// first-ms-p99 is the publication of a frame to its first packet read by
// a viewer, over all frames and viewers.
func BenchmarkWHEPFanout(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(map[int]string{1: "viewers=1", 20: "viewers=20"}[n], func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, viewers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg := &media.Registry{Logger: slog.New(slog.DiscardHandler)}
	tracks := []media.Track{{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: [][]byte{mediatest.H264SPS, mediatest.H264PPS}}}
	hub, err := reg.Publish("cam", tracks)
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	key, delta := make([]byte, 60000), make([]byte, 10000)
	_, _ = rand.Read(key)
	_, _ = rand.Read(delta)
	key[0], delta[0] = 0x65, 0x41 // IDR slice, non-IDR slice
	var dts int64
	publish := func(i int) time.Time {
		au := &media.AccessUnit{Track: 0, DTS: dts, PTS: dts, Key: i%50 == 0, Payload: [][]byte{delta}}
		if au.Key {
			au.Payload = [][]byte{mediatest.H264SPS, mediatest.H264PPS, key}
		}
		dts += 3600
		au.Arrival = time.Now()
		hub.Publish(au)
		return au.Arrival
	}
	publish(0) // the first keyframe, replayed to each viewer

	srv := &webrtc.Server{Registry: reg, Address: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	if err := srv.Initialize(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	r := chi.NewRouter()
	srv.Mount(r)
	hs := httptest.NewServer(r)
	defer hs.Close()
	api, err := whepclient.ClientAPI(true)
	if err != nil {
		b.Fatal(err)
	}
	vs := make([]*fanoutViewer, viewers)
	for i := range vs {
		v := &fanoutViewer{first: map[uint32]time.Time{}}
		v.cond = sync.NewCond(&v.mu)
		vs[i] = v
		pc, err := api.NewPeerConnection(pion.Configuration{})
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			b.Fatal(err)
		}
		pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
			for {
				p, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				now := time.Now()
				v.mu.Lock()
				if _, ok := v.first[p.Timestamp]; !ok {
					v.first[p.Timestamp] = now
					v.ts = append(v.ts, p.Timestamp)
				}
				if p.Marker {
					v.frames++
					v.cond.Broadcast()
				}
				v.mu.Unlock()
			}
		})
		if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, hs.URL+"/webrtc/cam/whep", pc); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(frames int) {
		for _, v := range vs {
			v.mu.Lock()
			for v.frames < frames {
				v.cond.Wait()
			}
			v.mu.Unlock()
		}
	}
	wait(1) // connected, the replayed keyframe played

	var sent []time.Time
	b.ResetTimer()
	b.ReportAllocs()
	for i := 1; i <= b.N; i++ {
		sent = append(sent, publish(i))
		wait(i + 1)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(viewers), "ns/frame/viewer")
	var lat []time.Duration
	for _, v := range vs {
		v.mu.Lock()
		// v.ts[0] is the replayed keyframe; then one per published frame.
		for j, ts := range v.ts[1:] {
			if j < len(sent) {
				lat = append(lat, v.first[ts].Sub(sent[j]))
			}
		}
		v.mu.Unlock()
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "first-ms-p99")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "first-ms-p50")
	}
}
