package rtpcodec

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
)

// NTP timestamps of RTCP sender reports (RFC 3550 4: seconds since 1900 in
// the high 32 bits, fraction of a second in units of 2^-32 in the low 32).
// gortsplib v4.16.2 reads and writes the fraction as nanoseconds
// (gortsplib#869), so Eddy converts sender reports itself.
const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970

// NTPFromRTCP reads the NTP timestamp of a sender report.
func NTPFromRTCP(v uint64) time.Time {
	frac := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(int64(v>>32)-ntpEpochOffset, int64(frac))
}

// NTPToRTCP writes t as the NTP timestamp of a sender report.
func NTPToRTCP(t time.Time) uint64 {
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint64(t.Unix()+ntpEpochOffset)<<32 | frac
}

// srClock maps the RTP timestamps of one sender to its wall clock, from its
// last RTCP sender report.
type srClock struct {
	mu   sync.Mutex
	ok   bool
	ssrc uint32
	ntp  time.Time
	rtp  uint32
}

func (c *srClock) update(sr *rtcp.SenderReport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok, c.ssrc, c.ntp, c.rtp = true, sr.SSRC, NTPFromRTCP(sr.NTPTime), sr.RTPTime
}

// at returns the wall clock of RTP timestamp ts of sender ssrc, zero when
// no sender report of it arrived yet.
func (c *srClock) at(ssrc, ts uint32, clockRate int) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ok || c.ssrc != ssrc || clockRate <= 0 {
		return time.Time{}
	}
	d := int64(int32(ts - c.rtp))
	return c.ntp.Add(time.Duration(d * int64(time.Second) / int64(clockRate)))
}
