package kvsapi

import (
	"encoding/json"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// pmEvent is the metadata of one stored fragment: its user tags, to be
// written as one "metadata" event to the stream's event stream.
type pmEvent struct {
	seq   uint64
	start time.Time
	tags  []mkv.Tag
}

// MetadataEvent is the event a PutMedia fragment's user tags become in
// {name}.events: GetMedia and GetMediaForFragmentList put the tags back
// before the fragment whose number matches.
type MetadataEvent struct {
	Type       string             `json:"type"` // "metadata"
	Time       string             `json:"time"` // the fragment's producer start, RFC 3339
	Duration   float64            `json:"duration"`
	Attributes MetadataAttributes `json:"attributes"`
}

// MetadataAttributes are a metadata event's attributes.
type MetadataAttributes struct {
	FragmentNumber string        `json:"fragmentNumber"`
	Tags           []MetadataTag `json:"tags"`
}

// MetadataTag is one user tag, as uploaded.
type MetadataTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// writeMetadata appends a stored fragment's metadata event; a failure
// (the event stream deleted, a full disk) is logged: the fragment is
// stored and acknowledged already.
func (s *pmSession) writeMetadata(ev pmEvent) {
	st, err := s.api.Videos.Store(s.name)
	if err != nil {
		return
	}
	// The fragment as stored: its producer start (its first video frame)
	// and duration.
	dur, start := 0.0, ev.start
	if e, ok := st.Lookup(ev.seq); ok {
		dur, start = time.Duration(e.Duration).Seconds(), time.Unix(0, e.ProducerTime)
	}
	m := MetadataEvent{Type: "metadata", Time: start.UTC().Format(time.RFC3339Nano), Duration: dur,
		Attributes: MetadataAttributes{FragmentNumber: fragments.FragmentNumber(ev.seq)}}
	for _, t := range ev.tags {
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
