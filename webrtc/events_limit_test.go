package webrtc_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	pion "github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/webrtc"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// runGoroutines counts the goroutines writing an events channel.
func runGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("(*eventChannel).run("))
}

// gaugeValue reads an unlabelled gauge from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestEventsChannelOnePerSession: a WHEP viewer that creates 50 data
// channels labelled events before its offer, and 10 more once connected,
// gets one subscription (EventsChannels, eddy_webrtc_events_channels and
// the writer goroutines all say 1); the 59 extra channels are closed and
// get no message; the first gets every event. Ending the session releases
// the subscription, and the goroutine count returns to what it was
// before the viewer came.
func TestEventsChannelOnePerSession(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	es, tl := openTimeline(t)
	reg := &media.Registry{}
	publishSynth(ctx, t, reg, "cam")
	metrics := prometheus.NewRegistry()
	srv := &webrtc.Server{Registry: reg, Address: "127.0.0.1:0", Registerer: metrics,
		Events: func(string) *events.Timeline { return tl }}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := chi.NewRouter()
	srv.Mount(r)
	hs := httptest.NewServer(r)
	defer hs.Close()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	time.Sleep(200 * time.Millisecond) // the publication's goroutines are up
	baseline := runtime.NumGoroutine()

	api, err := whepclient.ClientAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []events.Event
	var clocks int
	if _, err := whepclient.OpenEvents(pc, func(m whepclient.Message) {
		mu.Lock()
		defer mu.Unlock()
		switch m.Kind {
		case "clock":
			clocks++
		case "event":
			got = append(got, events.Event{ID: string(m.Event)})
		}
	}); err != nil {
		t.Fatal(err)
	}
	var extraClosed, extraMessages atomic.Int64
	extra := func() {
		dc, err := pc.CreateDataChannel(webrtc.EventsLabel, nil)
		if err != nil {
			t.Fatal(err)
		}
		dc.OnMessage(func(pion.DataChannelMessage) { extraMessages.Add(1) })
		dc.OnClose(func() { extraClosed.Add(1) })
	}
	const before, after = 49, 10
	for range before {
		extra()
	}
	sessionURL, _, _, err := whepclient.Negotiate(ctx, hc, hs.URL+"/webrtc/cam/whep", pc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10 s: %s", what)
			}
		}
	}
	waitFor("a clock message on the first events channel", func() bool { mu.Lock(); defer mu.Unlock(); return clocks > 0 })
	// Channels opened after the offer need no renegotiation (SCTP is up).
	for range after {
		extra()
	}
	waitFor(fmt.Sprintf("the %d extra events channels closed", before+after), func() bool { return extraClosed.Load() == before+after })

	if n := srv.EventsChannels(); n != 1 {
		t.Errorf("EventsChannels = %d, want 1", n)
	}
	if v := gaugeValue(t, metrics, "eddy_webrtc_events_channels"); v != 1 {
		t.Errorf("eddy_webrtc_events_channels = %v, want 1", v)
	}
	if n := runGoroutines(); n != 1 {
		t.Errorf("%d goroutines write events channels, want 1", n)
	}

	const puts = 20
	for i := range puts {
		res, err := es.Put([]datastreams.PutEntry{{Key: []byte("k"), Data: fmt.Appendf(nil, `{"type":"detection","label":"n%d"}`, i)}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("put: %v %v", err, res[0].Err)
		}
	}
	waitFor("every event on the first channel", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= puts })
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != puts || extraMessages.Load() != 0 {
		t.Errorf("first channel: %d events, want %d; extra channels: %d messages, want 0", n, puts, extraMessages.Load())
	}

	if code, err := whepclient.EndSession(ctx, hc, sessionURL); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE session: %d %v", code, err)
	}
	pc.Close()
	waitFor("the subscription released", func() bool {
		return srv.EventsChannels() == 0 && runGoroutines() == 0 && gaugeValue(t, metrics, "eddy_webrtc_events_channels") == 0
	})
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 15 s after the session ended, %d before the viewer came:\n%s",
				runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines: %d before the viewer, %d after its session ended", baseline, runtime.NumGoroutine())
}
