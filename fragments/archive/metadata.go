package archive

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// Fragment metadata: the producer's own tags of a fragment (the MKV
// SimpleTags a PutMedia upload sends before a Cluster, names not starting
// with AWS_) are kept as one event of the stream's timeline,
//
//	{"type":"metadata","time":<fragment producer start>,"duration":<seconds>,
//	 "attributes":{"fragmentNumber":"<47 digits>","tags":[{"name":"…","value":"…"},…]}}
//
// and every MKV answer (GetMedia, GetMediaForFragmentList) gives them back
// as SimpleTags before the fragment's Cluster, with the same names and
// values in the same order, as Kinesis Video returns fragment metadata.
// Anyone who may write the event stream may attach metadata this way.
const (
	// MetadataType is the type of a fragment metadata event.
	MetadataType = "metadata"
	// Kinesis Video's fragment metadata limits: tags past them are not
	// returned (a PutMedia upload that breaks them is refused).
	MaxMetadataTags       = 10
	MaxMetadataNameBytes  = 128
	MaxMetadataValueBytes = 256
)

// metadataAttributes is the attributes object of a metadata event.
type metadataAttributes struct {
	FragmentNumber string `json:"fragmentNumber"`
	Tags           []struct {
		Name  *string `json:"name"`
		Value *string `json:"value"`
	} `json:"tags"`
}

// MetadataTags returns the metadata tags of fragment seq, whose producer
// time span is [from, to) in Unix ns: those of the metadata events that
// overlap it and name it, in time order, at most MaxMetadataTags. Tags
// with an empty or reserved (AWS_) name, a name or value over Kinesis
// Video's limits, or a NUL byte (Matroska strings cannot hold one), are
// left out. A nil timeline has none.
func MetadataTags(tl *events.Timeline, seq uint64, from, to int64) ([]mkv.Tag, error) {
	if tl == nil || to <= from {
		return nil, nil
	}
	number := fragments.FragmentNumber(seq)
	var tags []mkv.Tag
	after := ""
	for {
		page, err := tl.Query(events.Query{From: from, To: to, Types: []string{MetadataType}, Limit: 100, After: after})
		if err != nil {
			return nil, fmt.Errorf("metadata of fragment %s: %w", number, err)
		}
		for i := range page.Events {
			var a metadataAttributes
			if json.Unmarshal(page.Events[i].Attributes, &a) != nil || a.FragmentNumber != number {
				continue
			}
			for _, t := range a.Tags {
				if t.Name == nil || t.Value == nil || *t.Name == "" || strings.HasPrefix(*t.Name, "AWS_") ||
					len(*t.Name) > MaxMetadataNameBytes || len(*t.Value) > MaxMetadataValueBytes ||
					strings.IndexByte(*t.Name, 0) >= 0 || strings.IndexByte(*t.Value, 0) >= 0 {
					continue
				}
				if len(tags) == MaxMetadataTags {
					return tags, nil
				}
				tags = append(tags, mkv.Tag{Name: *t.Name, Value: *t.Value})
			}
		}
		if page.Next == "" {
			return tags, nil
		}
		after = page.Next
	}
}
