package rtpcodec

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/mediatest"
)

func TestNTPConversion(t *testing.T) {
	// RFC 3550 4: 1900-based seconds, fraction in units of 2^-32 s.
	unix := uint64(ntpEpochOffset) << 32
	if got := NTPFromRTCP(unix | 0x80000000); !got.Equal(time.Unix(0, 500_000_000)) {
		t.Errorf("0.5 s after the Unix epoch: %v", got)
	}
	if got := NTPToRTCP(time.Unix(0, 250_000_000)); got != unix|0x40000000 {
		t.Errorf("NTPToRTCP = %x", got)
	}
	for _, tm := range []time.Time{mediatest.NTP0, time.Date(2035, 12, 31, 23, 59, 59, 999_999_999, time.UTC)} {
		if d := NTPFromRTCP(NTPToRTCP(tm)).Sub(tm).Abs(); d > time.Nanosecond {
			t.Errorf("round trip of %v: off by %v", tm, d)
		}
	}
	var c srClock
	if !c.at(1, 0, 90000).IsZero() {
		t.Error("time before any sender report")
	}
}
