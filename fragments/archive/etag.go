package archive

import (
	"crypto/sha256"
	"encoding/hex"
)

// ETag is a strong entity tag of the clip's bytes (RFC 9110 §8.8.3): the
// same range of the same stored fragments and events builds the same bytes
// (nothing in a clip depends on when it is built), so a download can resume
// with If-Range and is restarted instead of spliced when the selection
// changed (a fragment added at the range's end, or trimmed at its start,
// or an event written into the range).
func (c *Clip) ETag() string {
	sum := sha256.Sum256(c.Bytes)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}
