package whepclient

import (
	"encoding/json"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// EventsLabel is the label of the data channel that receives a stream's
// events over WHEP.
const EventsLabel = "events"

// Message is one message of the events data channel: Kind "event" with
// the event (as the events API returns it), or Kind "clock" with the RTP
// timestamp of a video frame and that frame's producer time.
type Message struct {
	Kind         string          `json:"kind"`
	Event        json.RawMessage `json:"event,omitempty"`
	RTPTimestamp uint32          `json:"rtpTimestamp,omitempty"`
	Time         time.Time       `json:"time,omitzero"`
	// Raw is the message as received; Err says why it did not parse.
	Raw []byte `json:"-"`
	Err error  `json:"-"`
}

// OpenEvents creates the events data channel on pc, to be called before
// Negotiate (the offer must carry it). f gets each message, in order, on
// the channel's read loop: while f runs, the channel is not read (the
// server drops events for a viewer that does not keep up).
func OpenEvents(pc *pion.PeerConnection, f func(Message)) (*pion.DataChannel, error) {
	dc, err := pc.CreateDataChannel(EventsLabel, nil)
	if err != nil {
		return nil, err
	}
	dc.OnMessage(func(m pion.DataChannelMessage) {
		var msg Message
		msg.Err = json.Unmarshal(m.Data, &msg)
		msg.Raw = m.Data
		f(msg)
	})
	return dc, nil
}
