package webrtc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/webrtc"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// publishSynth publishes a synthetic 25 fps H.264 stream in real time
// until ctx ends.
// openTimeline opens a datastreams core in a temporary directory with
// the event stream cam.events and its timeline, closed when the test ends.
func openTimeline(t *testing.T) (*datastreams.Stream, *events.Timeline) {
	t.Helper()
	core := &datastreams.Core{Dir: t.TempDir()}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = core.Close() })
	es, err := core.CreateStream("cam.events", datastreams.CreateOptions{ShardCount: 1, Mode: datastreams.ModeOnDemand,
		RetentionHours: 24, Kind: datastreams.StreamKindEvents, Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	tl, err := events.Open(es, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Close)
	return es, tl
}

func publishSynth(ctx context.Context, t *testing.T, reg *media.Registry, name string) {
	t.Helper()
	syn := mediatest.Synth{Video: true, Seconds: 60, GOP: 25}
	hub, err := reg.Publish(name, syn.Tracks())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer hub.Close()
		start := time.Now()
		for _, au := range syn.Units(start) {
			if d := time.Until(start.Add(time.Duration(au.PTS) * time.Second / 90000)); d > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			au.Arrival = time.Now()
			hub.Publish(au)
		}
	}()
}

// channelViewer is a WHEP client with an events channel.
type channelViewer struct {
	mu     sync.Mutex
	events []events.Event
	clocks int
	other  []string
	frames int
}

func (v *channelViewer) counts() (evs []events.Event, clocks, frames int, other []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]events.Event(nil), v.events...), v.clocks, v.frames, append([]string(nil), v.other...)
}

func connect(ctx context.Context, t *testing.T, endpoint string) *channelViewer {
	t.Helper()
	api, err := whepclient.ClientAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	v := &channelViewer{}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		var last uint32
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			if v.frames == 0 || p.Timestamp != last {
				v.frames++
				last = p.Timestamp
			}
			v.mu.Unlock()
		}
	})
	if _, err := whepclient.OpenEvents(pc, func(m whepclient.Message) {
		v.mu.Lock()
		defer v.mu.Unlock()
		switch {
		case m.Err == nil && m.Kind == "event":
			var ev events.Event
			if err := json.Unmarshal(m.Event, &ev); err != nil {
				v.other = append(v.other, string(m.Raw))
				return
			}
			v.events = append(v.events, ev)
		case m.Err == nil && m.Kind == "clock":
			v.clocks++
		default:
			v.other = append(v.other, string(m.Raw))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, endpoint, pc); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestEventsChannel runs the events channel against a Server with a
// synthetic publication and a timeline over a datastreams core: a viewer
// of a stream with a timeline gets the events written after it connected,
// in order, and clock messages; a viewer of a stream without one gets its
// video and no message at all.
func TestEventsChannel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	es, tl := openTimeline(t)

	reg := &media.Registry{}
	publishSynth(ctx, t, reg, "cam")
	publishSynth(ctx, t, reg, "bare")
	srv := &webrtc.Server{Registry: reg, Address: "127.0.0.1:0",
		Events: func(name string) *events.Timeline {
			if name == "cam" {
				return tl
			}
			return nil
		}}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := chi.NewRouter()
	srv.Mount(r)
	hs := httptest.NewServer(r)
	defer hs.Close()

	cam := connect(ctx, t, hs.URL+"/webrtc/cam/whep")
	bare := connect(ctx, t, hs.URL+"/webrtc/bare/whep")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, clocks, _, _ := cam.counts(); clocks > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no clock message within 10 s")
		}
	}
	var want []string
	for i := range 20 {
		res, err := es.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: fmt.Appendf(nil, `{"type":"detection","label":"n%d","score":0.5}`, i)}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put: %v %v", err, res[0].Err)
		}
		want = append(want, datastreams.EncodeSeq(0, res[0].Seq))
		time.Sleep(20 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if evs, _, _, _ := cam.counts(); len(evs) >= len(want) {
			break
		}
		if time.Now().After(deadline) {
			evs, _, _, _ := cam.counts()
			t.Fatalf("%d events of %d within 10 s", len(evs), len(want))
		}
	}
	time.Sleep(1200 * time.Millisecond)
	evs, clocks, frames, other := cam.counts()
	if len(other) > 0 || len(evs) != len(want) {
		t.Fatalf("cam viewer: %d events (want %d), other messages %q", len(evs), len(want), other)
	}
	for i, ev := range evs {
		if ev.ID != want[i] || ev.Label != fmt.Sprint("n", i) || ev.Type != "detection" {
			t.Errorf("event %d: %+v, want id %s label n%d", i, ev, want[i], i)
		}
	}
	if clocks < 3 || frames < 25 {
		t.Errorf("cam viewer: %d clocks, %d frames in over 2 s", clocks, frames)
	}
	bevs, bclocks, bframes, bother := bare.counts()
	if len(bevs)+bclocks+len(bother) > 0 || bframes < 25 {
		t.Errorf("viewer of a stream without a timeline: %d events, %d clocks, %d other messages, %d frames; want video and no message",
			len(bevs), bclocks, len(bother), bframes)
	}
	t.Logf("cam: %d events, %d clocks, %d frames; bare: %d frames", len(evs), clocks, frames, bframes)
}
