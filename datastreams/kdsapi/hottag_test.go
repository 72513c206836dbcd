package kdsapi

import (
	"strings"
	"testing"

	"github.com/eddy-video/eddy/datastreams"
)

// TestValidateTagsHot: a data stream's eddy:hot tag (CreateStream's
// Tags, AddTagsToStream) must be a Go duration of 0s or more; anything
// else is an InvalidArgumentException that says what to write.
func TestValidateTagsHot(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0s", "90m", "36h"} {
		if err := validateTags(map[string]string{datastreams.HotTag: v}); err != nil {
			t.Errorf("eddy:hot=%s: %v", v, err)
		}
	}
	for _, v := range []string{"", "1d", "-1h", "later"} {
		err := validateTags(map[string]string{datastreams.HotTag: v})
		code, _, msg := ErrorCode(err)
		if err == nil || code != "InvalidArgumentException" || !strings.Contains(msg, "such as 0s") {
			t.Errorf("eddy:hot=%q: %v (%s)", v, err, code)
		}
	}
}
