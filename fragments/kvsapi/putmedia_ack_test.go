package kvsapi_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// TestAckReader reads acks as KVS sends them (and without newlines
// between them), keeping each object's bytes as sent, and refuses an
// endless object and one without EventType.
func TestAckReader(t *testing.T) {
	lines := []string{
		`{"EventType":"BUFFERING","FragmentTimecode":1700000000123}`,
		`{"EventType":"IDLE"}`,
		`{"EventType":"ERROR","FragmentTimecode":1565810137603,"FragmentNumber":"91343852338176208490308672115616860505404839548","ErrorCode":"MAX_FRAGMENT_DURATION_REACHED","ErrorId":4002}`,
	}
	in := lines[0] + "\n" + lines[1] + lines[2] + "\n"
	r := kvsapi.NewAckReader(strings.NewReader(in))
	tc0, tc2 := int64(1700000000123), int64(1565810137603)
	want := []kvsapi.Ack{
		{EventType: kvsapi.AckBuffering, FragmentTimecode: &tc0},
		{EventType: kvsapi.AckIdle},
		{EventType: kvsapi.AckError, FragmentTimecode: &tc2, FragmentNumber: "91343852338176208490308672115616860505404839548",
			ErrorCode: "MAX_FRAGMENT_DURATION_REACHED", ErrorID: 4002},
	}
	for i, w := range want {
		a, raw, err := r.Next()
		if err != nil || a.EventType != w.EventType || a.Timecode() != w.Timecode() || (a.FragmentTimecode == nil) != (w.FragmentTimecode == nil) ||
			a.FragmentNumber != w.FragmentNumber || a.ErrorID != w.ErrorID || a.ErrorCode != w.ErrorCode {
			t.Fatalf("ack %d: %+v %v, want %+v", i, a, err, w)
		}
		if string(raw) != lines[i] {
			t.Errorf("ack %d: raw %s, want %s", i, raw, lines[i])
		}
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	long := `{"EventType":"IDLE","ErrorCode":"` + strings.Repeat("x", 2*kvsapi.MaxAckSize) + `"}`
	if _, _, err := kvsapi.NewAckReader(strings.NewReader(long)).Next(); !errors.Is(err, kvsapi.ErrBadAck) {
		t.Fatalf("an ack of %d bytes: %v", len(long), err)
	}
	if _, _, err := kvsapi.NewAckReader(strings.NewReader(`{"FragmentTimecode":1}`)).Next(); !errors.Is(err, kvsapi.ErrBadAck) {
		t.Fatal("an ack without EventType was taken")
	}
}
