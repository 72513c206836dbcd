package archive

import "time"

// MKVCodec is how a track is described in Matroska output.
var MKVCodec = mkvCodec

// UnescapeHTML is how event JSON is written into media.
var UnescapeHTML = unescapeHTML

// SetMaxExportFragments lowers the most fragments of one export until the
// returned function is called.
func SetMaxExportFragments(n int) func() {
	old := maxExportFragments
	maxExportFragments = n
	return func() { maxExportFragments = old }
}

// SetClock replaces the cache's clock.
func (c *ExportCache) SetClock(now func() time.Time) { c.now = now }
