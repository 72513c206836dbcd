package webrtc

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/media"
)

// TestProducerClock dates frames as the recorder dates fragments: through
// the latest sender-report time, else from the latest keyframe's arrival.
func TestProducerClock(t *testing.T) {
	arr := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ntp := time.Date(2026, 12, 6, 9, 59, 58, 500_000_000, time.UTC)
	c := producerClock{rate: 90000}
	steps := []struct {
		name string
		au   media.AccessUnit
		want time.Time
	}{
		{"keyframe, no sender report: its arrival", media.AccessUnit{PTS: 900000, Key: true, Arrival: arr}, arr},
		{"next frame: the keyframe's arrival + PTS distance, not its own arrival",
			media.AccessUnit{PTS: 903600, Arrival: arr.Add(90 * time.Millisecond)}, arr.Add(40 * time.Millisecond)},
		{"a frame with a sender-report time: that time", media.AccessUnit{PTS: 907200, NTP: ntp, Arrival: arr.Add(100 * time.Millisecond)}, ntp},
		{"later frames: the report's time + PTS distance", media.AccessUnit{PTS: 907200 + 45000, Arrival: arr.Add(time.Second)}, ntp.Add(500 * time.Millisecond)},
		{"a new keyframe does not replace the report", media.AccessUnit{PTS: 907200 + 90000, Key: true, Arrival: arr.Add(5 * time.Second)}, ntp.Add(time.Second)},
		{"a PTS before the report", media.AccessUnit{PTS: 907200 - 9000, Arrival: arr}, ntp.Add(-100 * time.Millisecond)},
	}
	for _, s := range steps {
		if got := c.at(&s.au); !got.Equal(s.want) {
			t.Errorf("%s: %s, want %s", s.name, got.Format(time.RFC3339Nano), s.want.Format(time.RFC3339Nano))
		}
	}
	// A forged sender-report time outside 1970–2100 falls back to arrivals.
	c = producerClock{rate: 90000}
	c.at(&media.AccessUnit{PTS: 0, Key: true, Arrival: arr})
	if got := c.at(&media.AccessUnit{PTS: 9000, NTP: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), Arrival: arr}); !got.Equal(arr.Add(100 * time.Millisecond)) {
		t.Errorf("with a sender report in 2200: %s, want the arrival clock", got)
	}
	if got := (&producerClock{}).at(&media.AccessUnit{Arrival: arr}); !got.IsZero() {
		t.Errorf("a track without a clock rate: %s, want zero", got)
	}
}
