package webrtc

import (
	"encoding/json"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/media"
)

// EventsLabel is the label of the data channel a WHEP client creates
// before its offer to receive the stream's events.
const EventsLabel = "events"

// Limits of an events channel.
const (
	// eventsQueue is how many events a viewer's subscription holds while
	// its channel is being written: a whole PutRecords call (up to 500
	// records) fits. The buffer is made when the channel opens (about
	// 80 KB).
	eventsQueue = 512
	// maxEventsBuffered caps the bytes queued in a viewer's channel (its
	// SCTP send buffer): beyond it, events are dropped for that viewer
	// instead of queued, so one that does not read costs bounded memory.
	maxEventsBuffered = 1 << 20
	// clockEvery is how often a clock message goes out (the contract is
	// at least once a second).
	clockEvery = 500 * time.Millisecond
)

// EventMessage and ClockMessage are the JSON text messages of the events
// data channel: Kind "event" for each new event of the stream, Kind
// "clock" mapping the RTP timestamp of a video frame just sent to that
// frame's producer time, so a page can place an event's box on the frame
// it shows (requestVideoFrameCallback's rtpTimestamp).
type EventMessage struct {
	Kind  string       `json:"kind"` // "event"
	Event events.Event `json:"event"`
}

// ClockMessage maps a video frame's RTP timestamp to its producer time.
type ClockMessage struct {
	Kind         string    `json:"kind"` // "clock"
	RTPTimestamp uint32    `json:"rtpTimestamp"`
	Time         time.Time `json:"time"`
}

// eventChannel is a session's open events data channel. Every write is
// non-blocking: a message that would take the channel's buffer past
// maxEventsBuffered is dropped (events counted, clocks skipped).
type eventChannel struct {
	ss *session
	dc *pion.DataChannel

	mu        sync.Mutex // serializes writes (events and clocks)
	sent      uint64
	dropped   uint64 // full channel buffer
	subDrop   uint64 // subscription drops already counted
	lastClock time.Time
}

// acceptEvents takes the data channels a WHEP client opens: the first one
// labelled events gets the stream's events; any other channel (another
// label, or a second events channel, opened with the offer or after it)
// is closed without a subscription, so a viewer costs one queue and one
// goroutine however many channels it opens.
func (ss *session) acceptEvents(dc *pion.DataChannel) {
	if dc.Label() != EventsLabel {
		ss.log.Debug("data channel ignored", "label", dc.Label())
		_ = dc.Close()
		return
	}
	if !ss.evClaimed.CompareAndSwap(false, true) {
		ss.log.Debug("extra events channel closed: one per session")
		_ = dc.Close()
		return
	}
	dc.OnOpen(func() {
		var tl *events.Timeline
		if ss.srv.Events != nil {
			tl = ss.srv.Events(ss.stream)
		}
		if tl == nil {
			// A stream without a store has no events: the channel stays
			// silent.
			ss.log.Debug("events channel opened; the stream has no event timeline")
			return
		}
		select {
		case <-ss.done:
			return // the session ended before its channel opened
		default:
		}
		ec := &eventChannel{ss: ss, dc: dc}
		closed := make(chan struct{})
		var once sync.Once
		dc.OnClose(func() { once.Do(func() { close(closed) }) })
		sub := tl.Subscribe(eventsQueue)
		ss.srv.eventsOpen.Add(1)
		ss.evch.Store(ec)
		ss.log.Info("events channel opened")
		go ec.run(sub, closed)
	})
}

// run writes the subscription's events until the session, the channel
// (closed) or the timeline ends, then releases the subscription.
func (ec *eventChannel) run(sub *events.Subscription, closed <-chan struct{}) {
	ss := ec.ss
	defer func() {
		sub.Close()
		ss.evch.CompareAndSwap(ec, nil)
		ss.srv.eventsOpen.Add(-1)
		ec.countSubDrops(sub)
		ec.mu.Lock()
		sent, dropped := ec.sent, ec.dropped+ec.subDrop
		ec.mu.Unlock()
		ss.log.Info("events channel closed", "events_sent", sent, "events_dropped", dropped)
	}()
	var checked time.Time
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				return // the stream was deleted
			}
			// Drops happen only while the queue is full; look now and then
			// (the count takes the timeline's lock).
			if now := time.Now(); len(sub.C()) >= eventsQueue/2 || now.Sub(checked) >= time.Second {
				checked = now
				ec.countSubDrops(sub)
			}
			if !ec.send(EventMessage{Kind: "event", Event: ev}, true) {
				return
			}
		case <-closed:
			return
		case <-ss.done:
			return
		}
	}
}

// countSubDrops adds the events the subscription dropped since the last
// call (the viewer's goroutine fell eventsQueue behind) to the counter.
func (ec *eventChannel) countSubDrops(sub *events.Subscription) {
	d := sub.Dropped()
	ec.mu.Lock()
	n := d - ec.subDrop
	ec.subDrop = d
	ec.mu.Unlock()
	if n > 0 {
		ec.ss.srv.eventsDropped.Add(float64(n))
		ec.ss.log.Warn("events dropped: the viewer fell behind its event queue", "dropped", n)
	}
}

// send writes one message unless the channel's buffer is full; it
// returns false when the channel is closed.
func (ec *eventChannel) send(msg any, isEvent bool) bool {
	b, err := json.Marshal(msg)
	if err != nil {
		ec.ss.log.Error("events channel: encoding a message", "error", err)
		return true
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.dc.BufferedAmount()+uint64(len(b)) > maxEventsBuffered {
		if isEvent {
			ec.dropped++
			ec.ss.srv.eventsDropped.Inc()
			if ec.dropped == 1 || ec.dropped%1000 == 0 {
				ec.ss.log.Warn("events dropped: the viewer's data channel is full (it does not read)", "dropped", ec.dropped, "buffered", ec.dc.BufferedAmount())
			}
		}
		return true
	}
	if err := ec.dc.SendText(string(b)); err != nil {
		ec.ss.log.Debug("events channel: send failed", "error", err)
		return false
	}
	if isEvent {
		ec.sent++
		ec.ss.srv.eventsSent.Inc()
	}
	return true
}

// clock sends a clock message for a video frame just sent, at most every
// clockEvery (or at once when force, after a jump of the RTP timeline).
func (ec *eventChannel) clock(ts uint32, at time.Time, force bool) {
	now := time.Now()
	ec.mu.Lock()
	due := force || now.Sub(ec.lastClock) >= clockEvery
	if due {
		ec.lastClock = now
	}
	ec.mu.Unlock()
	if due {
		ec.send(ClockMessage{Kind: "clock", RTPTimestamp: ts, Time: at.UTC()}, false)
	}
}

// producerClock dates a video track's frames on the producer's clock as
// the recorder dates its fragments: through the latest unit that carried
// a sender-report time, else from the arrival of the latest keyframe.
type producerClock struct {
	rate           int64
	ntp            time.Time
	ntpPTS         int64
	arrival        time.Time
	arrivalPTS     int64
	hasNTP, hasArr bool
}

// at notes au's anchors and returns its producer time (zero when unknown).
func (c *producerClock) at(au *media.AccessUnit) time.Time {
	if c.rate <= 0 {
		return time.Time{}
	}
	if !au.NTP.IsZero() {
		c.ntp, c.ntpPTS, c.hasNTP = au.NTP, au.PTS, true
	}
	if au.Key || !c.hasArr {
		c.arrival, c.arrivalPTS, c.hasArr = au.Arrival, au.PTS, true
	}
	if c.hasNTP {
		if t := media.ClockAt(c.ntp, c.ntpPTS, au.PTS, c.rate); !t.IsZero() && t.Year() >= 1970 && t.Year() < 2100 {
			return t
		}
	}
	return media.ClockAt(c.arrival, c.arrivalPTS, au.PTS, c.rate)
}
