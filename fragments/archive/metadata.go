package archive

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// Fragment metadata: the producer's own tags of a fragment (the MKV
// SimpleTags a PutMedia upload sends before a Cluster, names not starting
// with AWS_) are kept as one event of the stream's timeline,
//
//	{"type":"metadata","time":<fragment producer start>,"duration":<seconds>,
//	 "attributes":{"tags":[{"name":"…","value":"…"},…]}}
//
// and every MKV answer (GetMedia, GetMediaForFragmentList) gives them back
// as SimpleTags before the fragment's Cluster, with the same names and
// values in the same order, as Kinesis Video returns fragment metadata.
// Such an event applies to the fragment whose producer start is within
// MetadataSlack of its time. An event whose attributes also carry
// "fragmentNumber" (47 digits, as ListFragments shows it) applies to that
// fragment only, and only when it overlaps the fragment's producer time
// span. Anyone who
// may write the event stream may attach metadata either way.
const (
	// MetadataType is the type of a fragment metadata event.
	MetadataType = "metadata"
	// MetadataSlack is how far a metadata event without a fragment number
	// may lie from its fragment's producer start.
	MetadataSlack = time.Millisecond
	// Kinesis Video's fragment metadata limits: at most MaxUserTags tags
	// per fragment, names of at most MaxTagName bytes, values of at most
	// MaxTagValue bytes. A PutMedia upload that breaks them is refused;
	// tags past them in an event are not returned.
	MaxUserTags = 10
	MaxTagName  = 128
	MaxTagValue = 256
	// ReservedTagPrefix starts the names of the service's own tags
	// (AWS_KINESISVIDEO_…): never a producer's metadata.
	ReservedTagPrefix = "AWS_"
)

// MetadataEvent is a fragment metadata event as written to the stream's
// event stream.
type MetadataEvent struct {
	Type       string             `json:"type"` // MetadataType
	Time       string             `json:"time"` // the fragment's producer start, RFC 3339
	Duration   float64            `json:"duration"`
	Attributes MetadataAttributes `json:"attributes"`
}

// MetadataAttributes are a metadata event's attributes.
type MetadataAttributes struct {
	// FragmentNumber, when set, ties the event to that fragment rather
	// than to the one that starts at its time.
	FragmentNumber string        `json:"fragmentNumber,omitempty"`
	Tags           []MetadataTag `json:"tags"`
}

// MetadataTag is one tag, as uploaded.
type MetadataTag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// NewMetadataEvent returns the metadata event of tags for the fragment
// that starts at start (producer time) and lasts d.
func NewMetadataEvent(start time.Time, d time.Duration, tags []mkv.Tag) MetadataEvent {
	ev := MetadataEvent{Type: MetadataType, Time: start.UTC().Format(time.RFC3339Nano), Duration: d.Seconds()}
	ev.Attributes.Tags = make([]MetadataTag, 0, len(tags))
	for _, t := range tags {
		ev.Attributes.Tags = append(ev.Attributes.Tags, MetadataTag(t))
	}
	return ev
}

// ReservedTag reports whether name is one of the service's tags (it
// starts with ReservedTagPrefix).
func ReservedTag(name string) bool { return strings.HasPrefix(name, ReservedTagPrefix) }

// ValidTag reports whether a user tag can be kept and given back: a
// name that is not empty and not reserved, within MaxTagName and
// MaxTagValue bytes, and no NUL byte (Matroska strings cannot hold one).
func ValidTag(name, value string) bool {
	return name != "" && !ReservedTag(name) && len(name) <= MaxTagName && len(value) <= MaxTagValue &&
		strings.IndexByte(name, 0) < 0 && strings.IndexByte(value, 0) < 0
}

// UserTags returns the user tags among a fragment's tags (those with a
// reserved name are the service's and are left out), in order, and
// whether they keep to Kinesis Video's limits: at most MaxUserTags, each
// a ValidTag (none when they do not).
func UserTags(ts []mkv.Tag) ([]mkv.Tag, bool) {
	var out []mkv.Tag
	for _, t := range ts {
		if ReservedTag(t.Name) {
			continue
		}
		if !ValidTag(t.Name, t.Value) {
			return nil, false
		}
		if out = append(out, t); len(out) > MaxUserTags {
			return nil, false
		}
	}
	return out, true
}

// MetadataTags returns the metadata tags of fragment seq, whose producer
// time span is [from, to) in Unix ns: those of the metadata events that
// apply to it, in time order, at most MaxUserTags. Tags that are not a
// ValidTag are left out. A nil timeline has none.
func MetadataTags(tl *events.Timeline, seq uint64, from, to int64) ([]mkv.Tag, error) {
	meta, _, err := fragmentTags(tl, seq, from, to, false)
	return meta, err
}

// metadataOf collects the tags of the metadata events of one fragment.
type metadataOf struct {
	number   string // the fragment's number
	from, to int64  // its producer time span, Unix ns
	tags     []mkv.Tag
}

// add takes the tags of ev when it applies to the fragment.
func (m *metadataOf) add(ev *events.Event) {
	var a MetadataAttributes
	if json.Unmarshal(ev.Attributes, &a) != nil {
		return
	}
	if a.FragmentNumber != "" {
		if a.FragmentNumber != m.number || !ev.Overlaps(m.from, m.to) {
			return
		}
	} else if d := ev.Start() - m.from; d < -int64(MetadataSlack) || d > int64(MetadataSlack) {
		return
	}
	for _, t := range a.Tags {
		if len(m.tags) == MaxUserTags {
			return
		}
		if ValidTag(t.Name, t.Value) {
			m.tags = append(m.tags, mkv.Tag{Name: t.Name, Value: t.Value})
		}
	}
}

// fragmentTags reads, in one walk through the timeline, the tags of
// fragment seq, whose producer time span is [from, to) in Unix ns: its
// metadata (MetadataTags), and, when withEvents, one mkv.TagEvent tag per
// other event overlapping the span, at most MaxMKVEvents, then
// mkv.TagEventsTruncated when there were more. Metadata events are never
// event tags. A nil timeline has none.
func fragmentTags(tl *events.Timeline, seq uint64, from, to int64, withEvents bool) (meta, evTags []mkv.Tag, err error) {
	if tl == nil || to <= from {
		return nil, nil, nil
	}
	md := metadataOf{number: fragments.FragmentNumber(seq), from: from, to: to}
	// The range covers a metadata event up to MetadataSlack either side of
	// the start; the other events must overlap [from, to) itself.
	slack := int64(MetadataSlack)
	q := events.Query{From: from - slack, To: max(to, from+slack+1), Types: []string{MetadataType}}
	if withEvents {
		q.Types = nil
		evTags = make([]mkv.Tag, 0, 4)
	}
	n, more := 0, false // event tags, and whether some were left out
	for {
		q.Limit = 100
		if q.Types == nil {
			q.Limit = min(MaxMKVEvents-n+1, events.MaxLimit)
		}
		page, err := tl.Query(q)
		if err != nil {
			return nil, nil, fmt.Errorf("events of fragment %s: %w", md.number, err)
		}
		for i := range page.Events {
			ev := &page.Events[i]
			if ev.Type == MetadataType {
				md.add(ev)
				continue
			}
			if q.Types != nil || !ev.Overlaps(from, to) {
				continue
			}
			if n == MaxMKVEvents {
				// Past the budget: the rest of the walk is for metadata only.
				more, q.Types = true, []string{MetadataType}
				continue
			}
			b, err := eventJSON(ev)
			if err != nil {
				return nil, nil, err
			}
			if len(b) > mkv.MaxStringSize { // not for events within the schema's limits
				more = true
				continue
			}
			evTags = append(evTags, mkv.Tag{Name: mkv.TagEvent, Value: string(b)})
			n++
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
	if more {
		evTags = append(evTags, mkv.Tag{Name: mkv.TagEventsTruncated, Value: "true"})
	}
	return md.tags, evTags, nil
}
