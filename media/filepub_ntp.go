package media

import "time"

// ntpToRTCP is FilePublisher's name for NTPToRTCP. It goes when
// FilePublisher moves to media/rtspclient.
func ntpToRTCP(t time.Time) uint64 { return NTPToRTCP(t) }
