package media

import "time"

// ntpToRTCP writes t as the NTP timestamp of an RTCP sender report (RFC
// 3550 4), as rtpcodec.NTPToRTCP does: package media cannot import
// rtpcodec. It goes when FilePublisher moves to media/rtspclient, which
// can call rtpcodec.NTPToRTCP.
func ntpToRTCP(t time.Time) uint64 {
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint64(t.Unix()+2208988800)<<32 | frac
}
