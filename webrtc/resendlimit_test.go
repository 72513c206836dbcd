package webrtc

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

func TestResendBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var b resendBudget
	seq := uint16(65500) // wraps during the test
	for range 40 {
		if !b.allow(seq, clock) {
			t.Fatalf("new packet %d refused", seq)
		}
		seq++
	}
	// 40 packets sent: 10 resends earned.
	resent := 0
	for s := seq - 40; s != seq; s++ {
		if b.allow(s, clock) {
			resent++
		}
	}
	if resent != 10 {
		t.Errorf("resent %d of 40 NACKed packets after 40 sent, want 10 (a quarter)", resent)
	}
	for range 400 {
		b.allow(seq, clock)
		seq++
	}
	last := seq - 1
	if !b.allow(last, clock) {
		t.Fatal("resend refused with budget left")
	}
	if b.allow(last, clock) {
		t.Error("the same packet resent twice at once")
	}
	now = now.Add(resendAgain / 2)
	if b.allow(last, clock) {
		t.Errorf("the same packet resent again after %v", resendAgain/2)
	}
	now = now.Add(resendAgain)
	if !b.allow(last, clock) {
		t.Errorf("the packet not resent again after %v", resendAgain*3/2)
	}
	// The burst is bounded: 10,000 packets sent earn resendBurst.
	var c resendBudget
	for s := range 10000 {
		c.allow(uint16(s), clock)
	}
	n := 0
	for s := 9999; s >= 9999-2*resendBurst; s-- {
		if c.allow(uint16(s), clock) {
			n++
		}
	}
	if n != resendBurst {
		t.Errorf("burst of %d resends, want %d", n, resendBurst)
	}
}

// TestResendLimitInterceptor: new packets of a NACKed stream always pass,
// resends over the budget are dropped and counted, and a stream without
// NACK feedback is not touched.
func TestResendLimitInterceptor(t *testing.T) {
	dropped := 0
	ic, err := resendLimitFactory{dropped: func() { dropped++ }}.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	var written []uint16
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
		written = append(written, h.SequenceNumber)
		return len(p), nil
	})
	w := ic.BindLocalStream(&interceptor.StreamInfo{SSRC: 7, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, sink)
	for s := range uint16(8) {
		if _, err := w.Write(&rtp.Header{SSRC: 7, SequenceNumber: s}, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for s := range uint16(8) { // 8 sent earn 2 resends
		if _, err := w.Write(&rtp.Header{SSRC: 7, SequenceNumber: s}, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(written) != 10 || dropped != 6 || written[8] != 0 || written[9] != 1 {
		t.Errorf("written %v, %d dropped; want 0..7, 0, 1 and 6 dropped", written, dropped)
	}
	written = nil
	plain := ic.BindLocalStream(&interceptor.StreamInfo{SSRC: 8}, sink)
	for range 3 {
		if _, err := plain.Write(&rtp.Header{SSRC: 8, SequenceNumber: 5}, []byte{1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(written) != 3 {
		t.Errorf("stream without NACK: %d of 3 writes passed", len(written))
	}
}
