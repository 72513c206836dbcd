package datastreams

import (
	"fmt"
	"time"
)

// HotTag is the stream tag that sets how long its sealed data stays on
// local disk once uploaded to object storage (the server's
// storage.object.hot, for that stream): a Go duration such as 0s, 90m or
// 36h. Without object storage it changes nothing.
const HotTag = "eddy:hot"

// ParseHot checks a HotTag value; its error says what to write.
func ParseHot(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("the value of tag %s is %q: it must be a duration of 0s or more, such as 0s (local copies go once uploaded), 90m or 36h", HotTag, v)
	}
	return d, nil
}
