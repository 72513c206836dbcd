package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// eventsViewer is a pion WHEP client with an events data channel: it
// keeps the messages it reads and the RTP timestamps of the video frames.
type eventsViewer struct {
	pc      *pion.PeerConnection
	mu      sync.Mutex
	events  []events.Event
	clocks  []clockAt
	bad     []string
	frames  map[uint32]bool // video RTP timestamps received
	nframes int
	first   chan struct{} // closed at the first message
	once    sync.Once
}

type clockAt struct {
	ts uint32
	at time.Time // producer time of the frame
	rx time.Time // received
}

// newEventsViewer connects a WHEP viewer with an events channel. block,
// when not nil, is waited on inside the channel's read loop after the
// first message: the viewer stops reading its channel until block closes.
func newEventsViewer(ctx context.Context, t *testing.T, endpoint string, block <-chan struct{}) *eventsViewer {
	t.Helper()
	pc := loopbackPeer(t)
	t.Cleanup(func() { pc.Close() })
	v := &eventsViewer{pc: pc, frames: map[uint32]bool{}, first: make(chan struct{})}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() != pion.RTPCodecTypeVideo {
				continue
			}
			v.mu.Lock()
			if !v.frames[pkt.Timestamp] {
				v.frames[pkt.Timestamp] = true
				v.nframes++
			}
			v.mu.Unlock()
		}
	})
	if _, err := whepclient.OpenEvents(pc, func(m whepclient.Message) {
		v.mu.Lock()
		switch {
		case m.Err != nil:
			v.bad = append(v.bad, fmt.Sprintf("%s: %v", m.Raw, m.Err))
		case m.Kind == "event":
			var ev events.Event
			if err := json.Unmarshal(m.Event, &ev); err != nil {
				v.bad = append(v.bad, fmt.Sprintf("%s: %v", m.Raw, err))
			}
			v.events = append(v.events, ev)
		case m.Kind == "clock" && !m.Time.IsZero() && strings.Contains(string(m.Raw), `"rtpTimestamp":`):
			v.clocks = append(v.clocks, clockAt{ts: m.RTPTimestamp, at: m.Time, rx: time.Now()})
		default:
			v.bad = append(v.bad, string(m.Raw))
		}
		v.mu.Unlock()
		v.once.Do(func() { close(v.first) })
		if block != nil {
			<-block
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, endpoint, pc); err != nil {
		t.Fatal(err)
	}
	return v
}

// subscribed waits for the first message: the server sends clocks only
// once the viewer's subscription is open.
func (v *eventsViewer) subscribed(t *testing.T) {
	t.Helper()
	select {
	case <-v.first:
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the events channel within 10 s of the offer")
	}
}

func (v *eventsViewer) snapshot() (evs []events.Event, clocks []clockAt, bad []string, frames map[uint32]bool, nframes int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fr := make(map[uint32]bool, len(v.frames))
	for k := range v.frames {
		fr[k] = true
	}
	return append([]events.Event(nil), v.events...), append([]clockAt(nil), v.clocks...), append([]string(nil), v.bad...), fr, v.nframes
}

// waitEvents waits until v has n events.
func (v *eventsViewer) waitEvents(t *testing.T, n int, within time.Duration) []events.Event {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs, _, _, _, _ := v.snapshot()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewer got %d events within %s, want %d", len(evs), within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sentEvent is an event as PutRecords wrote it, with its sequence number.
type sentEvent struct {
	seq  string
	ev   events.Event
	data []byte
}

// makeEvent returns an event record: a detection with a box and score,
// or (every third) a door sensor event with a duration and attributes.
func makeEvent(i int, at time.Time, pad int) sentEvent {
	score := math.Round(float64(i%100)) / 100
	w := sentEvent{ev: events.Event{Time: at.UTC(), Type: "detection", Label: []string{"person", "car", "dog"}[i%3], Score: &score,
		Box: &[4]float64{float64(i%10) / 20, 0.25, 0.125, 0.5}}}
	if i%3 == 2 {
		w.ev = events.Event{Time: at.UTC(), Type: "door", Duration: 1.5, Label: "front",
			Attributes: json.RawMessage(fmt.Sprintf(`{"n":%d,"open":true,"pad":%q}`, i, strings.Repeat("x", pad)))}
	}
	m := map[string]any{"type": w.ev.Type, "time": w.ev.Time.Format(time.RFC3339Nano), "label": w.ev.Label}
	if w.ev.Score != nil {
		m["score"], m["box"] = *w.ev.Score, *w.ev.Box
	}
	if w.ev.Duration > 0 {
		m["duration"], m["attributes"] = w.ev.Duration, w.ev.Attributes
	}
	w.data, _ = json.Marshal(m)
	return w
}

// sameEvent compares a delivered event with the one written.
func sameEvent(got events.Event, w sentEvent) error {
	gb, wb := got.Box, w.ev.Box
	switch {
	case got.ID != w.seq:
		return fmt.Errorf("id %s, want %s", got.ID, w.seq)
	case got.Type != w.ev.Type || got.Label != w.ev.Label || !got.Time.Equal(w.ev.Time) || got.Duration != w.ev.Duration:
		return fmt.Errorf("got %s %s at %s for %gs, want %s %s at %s for %gs", got.Type, got.Label, got.Time, got.Duration, w.ev.Type, w.ev.Label, w.ev.Time, w.ev.Duration)
	case (got.Score == nil) != (w.ev.Score == nil) || got.Score != nil && *got.Score != *w.ev.Score:
		return fmt.Errorf("score %v, want %v", got.Score, w.ev.Score)
	case (gb == nil) != (wb == nil) || gb != nil && *gb != *wb:
		return fmt.Errorf("box %v, want %v", gb, wb)
	case w.ev.Attributes != nil && !jsonEqual(got.Attributes, w.ev.Attributes):
		return fmt.Errorf("attributes %s, want %s", got.Attributes, w.ev.Attributes)
	case got.ServerTime.IsZero():
		return fmt.Errorf("no serverTime")
	}
	return nil
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// TestWHEPEvents: a pion WHEP viewer with an events data channel gets
// every event PutRecords writes to the stream's event stream, in order
// and equal to what was written (a record that is not an event is not
// sent), and clock messages at least once a second whose RTP timestamps
// are frames it received and whose times are those frames' producer
// times (the publisher's sender-report clock).
func TestWHEPEvents(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	// The publisher's clock: each frame's producer time, as its sender
	// reports date it.
	var umu sync.Mutex
	var sentNTP []time.Time
	p := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Duration: 40 * time.Second, Transport: "tcp",
		OnUnit: func(_ time.Duration, _ bool, ntp time.Time) {
			umu.Lock()
			sentNTP = append(sentNTP, ntp)
			umu.Unlock()
		}}
	pubCtx, stopPub := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pubCtx) }()
	defer func() { stopPub(); stopped(t, done) }()
	waitLive(t, e, "cam")

	v := newEventsViewer(ctx, t, e.URL+"/webrtc/cam/whep", nil)
	v.subscribed(t)

	kc := e.Kinesis()
	var all []sentEvent
	for batch := range 3 {
		var recs [][]byte
		var ws []sentEvent
		for i := range 100 {
			w := makeEvent(batch*100+i, time.Now().Add(-time.Duration(i)*time.Millisecond), 64)
			ws = append(ws, w)
			recs = append(recs, w.data)
		}
		// A record that is not an event is stored, not sent.
		recs = append(recs[:50:50], append([][]byte{[]byte("not json at all")}, recs[50:]...)...)
		seqs := putEvents(ctx, t, kc, "cam", recs)
		seqs = append(seqs[:50:50], seqs[51:]...)
		for i := range ws {
			ws[i].seq = seqs[i]
		}
		all = append(all, ws...)
		time.Sleep(time.Second)
	}
	v.waitEvents(t, len(all), 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	got, clocks, bad, frames, nframes := v.snapshot()
	if len(bad) > 0 {
		t.Errorf("%d messages not of the documented shapes, first: %s", len(bad), bad[0])
	}
	if len(got) != len(all) {
		t.Fatalf("viewer got %d events, want %d (the record that is not an event is not sent)", len(got), len(all))
	}
	for i := range all {
		if err := sameEvent(got[i], all[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}

	// Clocks: at least one a second, each for a frame the viewer got, on
	// the producer's clock (RTP ticks and producer time advance alike).
	if len(clocks) < 3 {
		t.Fatalf("%d clock messages in over 3 s", len(clocks))
	}
	for i, c := range clocks {
		if !frames[c.ts] {
			t.Errorf("clock %d: RTP timestamp %d is not a video frame the viewer received (%d frames)", i, c.ts, nframes)
		}
		umu.Lock()
		nearest := time.Duration(math.MaxInt64)
		for _, ntp := range sentNTP {
			nearest = min(nearest, c.at.Sub(ntp).Abs())
		}
		umu.Unlock()
		if nearest > time.Millisecond {
			t.Errorf("clock %d: producer time %s is %s from the nearest frame the publisher dated", i, c.at, nearest)
		}
		if i == 0 {
			continue
		}
		prev := clocks[i-1]
		if gap := c.rx.Sub(prev.rx); gap > 1200*time.Millisecond {
			t.Errorf("clocks %d and %d came %s apart, want at most 1 s", i-1, i, gap)
		}
		ticks := time.Duration(int64(c.ts-prev.ts)) * time.Second / 90000
		if d := c.at.Sub(prev.at) - ticks; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("clocks %d and %d: producer time advanced %s, RTP %s", i-1, i, c.at.Sub(prev.at), ticks)
		}
	}
	t.Logf("%d events in order; %d clocks over %s; %d frames", len(got), len(clocks), clocks[len(clocks)-1].rx.Sub(clocks[0].rx).Round(time.Millisecond), nframes)
}

// TestWHEPEventsSlowViewer: beside a viewer that stops reading its events
// channel, a fast viewer still gets every event and the writer's calls
// all succeed; the slow viewer's events are dropped at its bound and
// counted (every event is either sent to or dropped for each viewer).
func TestWHEPEventsSlowViewer(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) { c.Streams.Throttle = false })
	ctx := servertest.Context(t, time.Minute)
	defer publishLive(ctx, t, e, "cam", 40*time.Second)()
	endpoint := e.URL + "/webrtc/cam/whep"

	block := make(chan struct{})
	defer close(block)
	slow := newEventsViewer(ctx, t, endpoint, block)
	slow.subscribed(t)
	fast := newEventsViewer(ctx, t, endpoint, nil)
	fast.subscribed(t)

	// 800 events, a third of them with 12 KiB of attributes: more than the
	// slow viewer's SCTP receive window (1 MiB) and the server's buffer
	// for it together.
	const n = 800
	kc := e.Kinesis()
	var all []sentEvent
	var slowest time.Duration
	for batch := range n / 100 {
		var recs [][]byte
		var ws []sentEvent
		for i := range 100 {
			w := makeEvent(batch*100+i, time.Now(), 12<<10)
			ws, recs = append(ws, w), append(recs, w.data)
		}
		start := time.Now()
		seqs := putEvents(ctx, t, kc, "cam", recs)
		slowest = max(slowest, time.Since(start))
		for i := range ws {
			ws[i].seq = seqs[i]
		}
		all = append(all, ws...)
		// The fast viewer keeps up: it has this batch before the next.
		fast.waitEvents(t, len(all), 10*time.Second)
	}
	_, _, _, _, f0 := fast.snapshot()
	got := fast.waitEvents(t, n, 20*time.Second)
	for i := range all {
		if err := sameEvent(got[i], all[i]); err != nil {
			t.Fatalf("fast viewer, event %d: %v", i, err)
		}
	}
	time.Sleep(time.Second)
	_, _, _, _, f1 := fast.snapshot()
	if f1-f0 < 15 {
		t.Errorf("fast viewer's video: %d frames in the last second and more", f1-f0)
	}
	if slowest > 2*time.Second {
		t.Errorf("a PutRecords call took %s beside a viewer that does not read", slowest)
	}

	fams := scrape(t, e)
	sent, _ := sample(fams, "eddy_webrtc_events_sent_total", nil)
	dropped, _ := sample(fams, "eddy_webrtc_events_dropped_total", nil)
	t.Logf("events: %v sent, %v dropped (2 viewers × %d); slowest PutRecords %s", sent, dropped, n, slowest.Round(time.Millisecond))
	if dropped <= 0 {
		t.Errorf("no event dropped for a viewer that never reads %d events", n)
	}
	if sent+dropped != 2*n {
		t.Errorf("sent %v + dropped %v, want %d (each event sent to or dropped for each of 2 viewers)", sent, dropped, 2*n)
	}
	evs, _, _, _, _ := slow.snapshot()
	if len(evs) > 0 {
		t.Errorf("the blocked viewer read %d events", len(evs))
	}
}

// TestWHEPEventsBrowser: headless Chromium opens the events channel as the
// README says (createDataChannel("events") before createOffer) and gets
// the events sentEvent while it plays, in order, and clock messages whose
// RTP timestamps are frames its video element presented
// (requestVideoFrameCallback), so a page can place boxes on frames.
func TestWHEPEventsBrowser(t *testing.T) {
	node, chromium := needBrowser(t)
	e := servertest.Start(t)
	ctx := servertest.Context(t, 90*time.Second)
	defer publishLive(ctx, t, e, "cam", 60*time.Second)()

	// A writer puts an event every 100 ms while the page plays.
	kc := e.Kinesis()
	var mu sync.Mutex
	var sentEvent []string
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; wctx.Err() == nil; i++ {
			out, err := kc.PutRecord(wctx, &kinesis.PutRecordInput{StreamName: aws.String("cam.events"), PartitionKey: aws.String("k"),
				Data: fmt.Appendf(nil, `{"type":"detection","label":"browser-%d","box":[0.1,0.1,0.2,0.2]}`, i)})
			if err == nil {
				mu.Lock()
				sentEvent = append(sentEvent, aws.ToString(out.SequenceNumber))
				mu.Unlock()
			}
			select {
			case <-wctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	cmd := exec.CommandContext(ctx, node, "test/whep_events.mjs")
	cmd.Dir = "../web"
	cmd.Env = append(os.Environ(), "EDDY_URL="+e.URL, "EDDY_STREAM=cam", "WANT_EVENTS=10", "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	stopWriter()
	<-writerDone
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, out)
	}
	_, line, ok := strings.Cut(string(out), "RESULT ")
	if !ok {
		t.Fatalf("no result from the page:\n%s", out)
	}
	var res struct {
		Events []struct{ ID, Label, Time string }
		Clocks []struct {
			RTPTimestamp uint32
			Time         time.Time
		}
		Bad                     []string
		Presented               []uint32
		ClocksOnPresentedFrames int
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &res); err != nil {
		t.Fatalf("result %q: %v", line, err)
	}
	t.Logf("page: %d events, %d clocks (%d on presented frames), %d frames presented", len(res.Events), len(res.Clocks), res.ClocksOnPresentedFrames, len(res.Presented))
	if len(res.Bad) > 0 || len(res.Events) < 10 || len(res.Clocks) < 3 {
		t.Fatalf("page got %d events, %d clocks, bad messages %q\n%s", len(res.Events), len(res.Clocks), res.Bad, out)
	}
	// The page's events are consecutive writes, in order.
	mu.Lock()
	idx := map[string]int{}
	for i, id := range sentEvent {
		idx[id] = i
	}
	mu.Unlock()
	first, ok := idx[res.Events[0].ID]
	if !ok {
		t.Fatalf("event %s was not written", res.Events[0].ID)
	}
	for i, ev := range res.Events {
		if j, ok := idx[ev.ID]; !ok || j != first+i || ev.Label != fmt.Sprint("browser-", j) {
			t.Fatalf("page event %d: %+v, want write %d", i, ev, first+i)
		}
	}
	// The clocks are on the RTP timeline of the frames the page presents
	// (a random base each session): each is within a second of a presented
	// frame, and at least one is a presented frame exactly (the browser
	// may skip showing some frames).
	if res.ClocksOnPresentedFrames == 0 {
		t.Errorf("no clock message names a frame the page presented (%d clocks, %d frames)", len(res.Clocks), len(res.Presented))
	}
	for i, c := range res.Clocks {
		near := false
		for _, f := range res.Presented {
			if d := int32(c.RTPTimestamp - f); d > -90000 && d < 90000 {
				near = true
				break
			}
		}
		if !near {
			t.Errorf("clock %d (RTP %d) is not within a second of any frame the page presented", i, c.RTPTimestamp)
		}
	}
}
