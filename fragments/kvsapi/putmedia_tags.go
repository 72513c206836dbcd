package kvsapi

import (
	"encoding/json"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// MetadataEvent is the event a PutMedia cluster's user tags become in
// {name}.events, written before the cluster is published (so before its
// fragment can be listed): at the fragment's producer start (its first
// video frame, as the stored fragment's ProducerTime), without a fragment
// number, not known yet. GetMedia and GetMediaForFragmentList put the tags
// back before the fragment whose producer time is within 1 ms of the
// event's. A cluster the recorder then fails to store leaves an event that
// matches no fragment. Events written by others may name their fragment
// (FragmentNumber).
type MetadataEvent struct {
	Type       string             `json:"type"` // "metadata"
	Time       string             `json:"time"` // the fragment's producer start, RFC 3339
	Duration   float64            `json:"duration"`
	Attributes MetadataAttributes `json:"attributes"`
}

// MetadataAttributes are a metadata event's attributes.
type MetadataAttributes struct {
	FragmentNumber string        `json:"fragmentNumber,omitempty"`
	Tags           []MetadataTag `json:"tags"`
}

// MetadataTag is one user tag, as uploaded.
type MetadataTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// writeMetadata appends the metadata event of a cluster about to be
// published, starting at start and spanning dur; a failure (the event
// stream deleted, a full disk) is logged: the fragment is stored without
// its tags.
func (s *pmSession) writeMetadata(start time.Time, dur time.Duration, tags []mkv.Tag) {
	m := MetadataEvent{Type: "metadata", Time: start.UTC().Format(time.RFC3339Nano), Duration: dur.Seconds()}
	m.Attributes.Tags = make([]MetadataTag, 0, len(tags))
	for _, t := range tags {
		m.Attributes.Tags = append(m.Attributes.Tags, MetadataTag(t))
	}
	b, _ := json.Marshal(m)
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
