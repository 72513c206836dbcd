package media

import "time"

// maxClockSpan bounds, in seconds, how far a PTS may be from the PTS a
// clock reading was taken at (100 years): further, the time is unknown.
const maxClockSpan = 100 * 365 * 24 * 3600

// ClockAt returns the time of pts on a clock that read anchor at
// anchorPTS (both in a track's clock rate, rate ticks a second), as the
// producer's clock is carried from a sender report to the units after
// and before it. It returns the zero time when the two are more than 100
// years apart (a forged or wrapped clock).
func ClockAt(anchor time.Time, anchorPTS, pts, rate int64) time.Time {
	diff := pts - anchorPTS
	sec, rem := diff/rate, diff%rate
	if sec > maxClockSpan || sec < -maxClockSpan {
		return time.Time{}
	}
	return anchor.Add(time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/time.Duration(rate))
}
