package fragments

import (
	"time"

	"github.com/eddy-video/eddy/datastreams"
)

// HotTag is the tag that sets how long a stream's sealed data stays on
// local disk once it is uploaded to object storage (storage.object.hot
// for that stream): a Go duration such as 0s, 90m or 36h. Without object
// storage it changes nothing. It is the shard core's tag (data streams
// take it too).
const HotTag = datastreams.HotTag

// ParseHot checks a HotTag value.
func ParseHot(v string) (time.Duration, error) {
	d, err := datastreams.ParseHot(v)
	if err != nil {
		return 0, errf(KindInvalidArgument, "The value of tag %s is %q: it must be a duration of 0s or more, such as 0s (local copies go once uploaded), 90m or 36h.", HotTag, v)
	}
	return d, nil
}

// checkHot checks the HotTag of tags, if they set one.
func checkHot(tags map[string]string) error {
	if v, ok := tags[HotTag]; ok {
		_, err := ParseHot(v)
		return err
	}
	return nil
}
