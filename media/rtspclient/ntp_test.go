package rtspclient

import (
	"testing"
	"time"
)

func TestNTPToRTCP(t *testing.T) {
	want := uint64(ntpEpochOffset)<<32 | 0x40000000 // a quarter second
	if got := ntpToRTCP(time.Unix(0, 250_000_000)); got != want {
		t.Errorf("ntpToRTCP = %x, want %x", got, want)
	}
}
