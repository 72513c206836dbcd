package rtspclient

import "time"

// ntpEpochOffset is the seconds from 1900 (the NTP epoch) to 1970.
const ntpEpochOffset = 2208988800

// ntpToRTCP is t as the NTP timestamp of an RTCP sender report (RFC 3550
// §4: seconds since 1900 in the high 32 bits, fraction of a second in
// units of 2^-32 in the low 32). gortsplib v4.16.2 writes the fraction as
// nanoseconds (gortsplib#869), so the publisher sends its reports itself.
func ntpToRTCP(t time.Time) uint64 {
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return uint64(t.Unix()+ntpEpochOffset)<<32 | frac
}
