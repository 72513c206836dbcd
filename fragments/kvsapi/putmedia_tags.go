package kvsapi

import (
	"encoding/json"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// writeMetadata appends the metadata event (archive.MetadataEvent) of a
// cluster about to be published, so written before its fragment can be
// listed and a live GetMedia never misses it: at start, the producer time
// the stored fragment will have (its first video frame's), which is how
// readers match it to its fragment (it has no number yet), spanning dur.
// A cluster the recorder then fails to store leaves an event that matches
// no fragment. A failure (the event stream deleted, a full disk) is
// logged: the fragment is stored without its tags.
func (s *pmSession) writeMetadata(start time.Time, dur time.Duration, tags []mkv.Tag) {
	b, _ := json.Marshal(archive.NewMetadataEvent(start, dur, tags))
	es, err := s.api.Videos.Core.Stream(s.name + fragments.EventsSuffix)
	if err != nil {
		s.log.Warn("PutMedia fragment metadata not written", "err", err)
		return
	}
	res, err := es.Put([]datastreams.PutEntry{{Key: []byte(s.name), Data: b}})
	if err == nil && len(res) == 1 && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		s.log.Warn("PutMedia fragment metadata not written", "err", err)
	}
}
