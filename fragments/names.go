package fragments

import (
	"fmt"
	"strings"

	"github.com/eddy-video/eddy/media"
)

// EventsSuffix ends the name of every video stream's event stream: the
// Kinesis data stream {name}.events, created and deleted with the video
// stream {name}. The suffix is reserved: no video stream, publication or
// data stream created through the Kinesis API may end with it.
const EventsSuffix = ".events"

// CheckName refuses a name reserved for event streams. The error wraps
// media.ErrInvalidName, so the protocol edges answer it as a bad name.
func CheckName(name string) error {
	if strings.HasSuffix(name, EventsSuffix) {
		return fmt.Errorf("%w %q: the suffix %q is reserved for the event streams of video streams", media.ErrInvalidName, name, EventsSuffix)
	}
	return nil
}
