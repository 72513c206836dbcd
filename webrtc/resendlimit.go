package webrtc

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// Retransmission budget of a WHEP viewer's stream. pion's NACK responder
// resends every packet a NACK names, each time it is named: a viewer
// that cannot keep up (its socket buffer overflows) NACKs most of what
// it is sent, the resends overflow it again, and the server's work
// doubles when it is already late. Measured with 100 viewers on two
// loaded cores: resends were 49% of the server's CPU before any change
// and 75% after packetizing once, the first RTP write of a frame waiting
// behind them. Like libwebrtc, the server bounds retransmission: at most
// resendShare resent packets per packet sent (a burst of resendBurst),
// and one packet resent at most once per resendAgain.
const (
	resendShare = 0.25
	resendBurst = 128
	resendAgain = 100 * time.Millisecond
	resendSlots = 512 // as the responder's buffer (newAPI)
)

// resendLimitFactory makes the interceptor that drops the resends over
// a stream's budget. It must be registered before the NACK responder,
// so that it is the responder's writer: it tells a resend from a new
// packet by its sequence number (not after the highest written).
type resendLimitFactory struct{ dropped func() }

func (f resendLimitFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &resendLimit{dropped: f.dropped}, nil
}

type resendLimit struct {
	interceptor.NoOp
	dropped func()
}

// resendBudget is the state of one sending stream.
type resendBudget struct {
	mu      sync.Mutex
	started bool
	highest uint16
	tokens  float64
	at      [resendSlots]struct {
		seq  uint16
		when time.Time
	}
}

// allow reports whether the packet with sequence number seq is to be
// written: a new packet always is (and earns budget); a resend is if the
// budget has a token and seq was not resent within resendAgain.
func (b *resendBudget) allow(seq uint16, clock func() time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started || int16(seq-b.highest) > 0 {
		b.started, b.highest = true, seq
		b.tokens = min(b.tokens+resendShare, resendBurst)
		return true
	}
	slot := &b.at[seq%resendSlots]
	now := clock()
	if b.tokens < 1 || (slot.seq == seq && !slot.when.IsZero() && now.Sub(slot.when) < resendAgain) {
		return false
	}
	b.tokens--
	slot.seq, slot.when = seq, now
	return true
}

// BindLocalStream implements interceptor.Interceptor.
func (r *resendLimit) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	nacked := false
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			nacked = true
		}
	}
	if !nacked {
		return w
	}
	b := &resendBudget{}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRC && !b.allow(h.SequenceNumber, time.Now) {
			if r.dropped != nil {
				r.dropped()
			}
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}
