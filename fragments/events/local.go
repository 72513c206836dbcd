package events

import (
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
)

// LocalFrom returns the lowest sequence from which every record of log l
// is on local disk, so that reading from it needs no object store: the
// next sequence after its newest cold segment (0 when none is cold, or l
// does not tier). What opens reads it to tell a catch-up it may do before
// it returns (local reads) from one that goes to the background.
func LocalFrom(l logstore.Log) uint64 {
	tl, ok := l.(interface {
		Tiering() filelog.TieringStats
		Sealed() []filelog.SegmentInfo
	})
	if !ok || tl.Tiering().ColdSegments == 0 {
		return 0
	}
	sealed := tl.Sealed()
	for i := len(sealed) - 1; i >= 0; i-- {
		if !sealed[i].Local {
			return sealed[i].Next
		}
	}
	return 0
}
