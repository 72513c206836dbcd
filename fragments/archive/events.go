package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	mp4ff "github.com/Eyevinn/mp4ff/mp4"

	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// Events inside the media: the events of the stream's timeline that
// overlap the media a read hands out travel in the container, so a
// downloaded file keeps its detections.
//
//   - MKV (GetMedia, GetMediaForFragmentList): one SimpleTag per event
//     (fragment metadata events aside: those are the fragment's own tags,
//     see MetadataType) in the Tags before each fragment's Cluster, after
//     the KVS tags and the fragment's metadata, named
//     mkv.TagEvent ("EDDY_EVENT"), its TagString the event's JSON as the
//     events API returns it. KVS carries producer fragment metadata the
//     same way (Segment-level Tags before the Cluster). An event that
//     spans several fragments is in each of them.
//   - MP4 (GetClip, clip.mp4): one DASH event message box (emsg, ISO/IEC
//     23009-1 §5.10.3.3) version 1 per event, with scheme_id_uri
//     EmsgScheme, value the event's type, timescale the video track's,
//     presentation_time the event's start on the clip's presentation
//     timeline (0 is the clip's first sample; an event that started
//     before the clip is clamped to 0, its duration shortened by as
//     much), event_duration its duration (0xFFFFFFFE at most), id the low
//     32 bits of the record's sequence number, and message_data the
//     event's JSON. The clip is one progressive MP4 (ftyp, moov, mdat)
//     without moofs to put them before, so the boxes follow the mdat at
//     the top level, in time order: as their presentation times are
//     absolute (version 1), where they sit does not matter to a reader,
//     the chunk offsets of the moov stay as written, and readers that
//     take a box before the mdat for the start of a fragmented segment
//     (mp4ff's DecodeFile does) still read the file. Players skip them.
const (
	// EmsgScheme is the scheme_id_uri of Eddy's event boxes: the payload
	// is the event's JSON (UTF-8), not ID3.
	EmsgScheme = "urn:eddy-video:event:json:1"

	// MaxMKVEvents is the most events one MKV fragment carries (the MKV
	// writer's limit is 1024 tags before a Cluster, three are KVS's); a
	// fragment with more gets the first ones in time order and the tag
	// mkv.TagEventsTruncated.
	MaxMKVEvents = 1000
	// MaxClipEvents and MaxClipEventBytes bound the events of one clip
	// (the first ones in time order); the events API has them all.
	MaxClipEvents     = 10000
	MaxClipEventBytes = 16 << 20
)

// overlapping returns the events of tl that overlap the producer-time
// range [from, to) in Unix ns, in time order, at most limit of them, and
// whether there were more. A nil timeline has none.
func overlapping(tl *events.Timeline, from, to int64, limit int) ([]events.Event, bool, error) {
	if tl == nil || to <= from {
		return nil, false, nil
	}
	var out []events.Event
	after := ""
	for {
		page, err := tl.Query(events.Query{From: from, To: to, Limit: min(limit-len(out)+1, events.MaxLimit), After: after})
		if err != nil {
			return nil, false, fmt.Errorf("events of [%d, %d): %w", from, to, err)
		}
		out = append(out, page.Events...)
		if len(out) > limit {
			return out[:limit], true, nil
		}
		if page.Next == "" {
			return out, false, nil
		}
		after = page.Next
	}
}

// eventJSON is the event's JSON as the events API has it, with <, > and &
// as themselves rather than \u003c, \u003e and \u0026 (the timeline
// stores attributes escaped), so that the attributes read back as
// written and the schema's largest fit an MKV string six times over.
func eventJSON(ev *events.Event) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return unescapeHTML(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}

// unescapeHTML replaces the escapes \u003c, \u003e and \u0026 (any hex
// case) inside the strings of the valid JSON text b by the characters they
// stand for, leaving every other escape as it is: the same JSON value.
func unescapeHTML(b []byte) []byte {
	out := b[:0:0]
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(b):
			if b[i+1] == 'u' && i+5 < len(b) {
				switch strings.ToLower(string(b[i+2 : i+6])) {
				case "003c":
					out, i = append(out, '<'), i+5
					continue
				case "003e":
					out, i = append(out, '>'), i+5
					continue
				case "0026":
					out, i = append(out, '&'), i+5
					continue
				}
			}
			out, i = append(out, c, b[i+1]), i+1 // the escape and the character it escapes
			continue
		}
		out = append(out, c)
	}
	return out
}

// MKVEvents decodes the events an MKV fragment carries (its
// mkv.TagEvent tags), in the order written. ID, Type, Time and the
// other members of the JSON are set; Seq is not (it is not in the JSON).
func MKVEvents(f *mkv.Fragment) ([]events.Event, error) {
	var evs []events.Event
	for _, v := range f.TagValues(mkv.TagEvent) {
		var ev events.Event
		if err := json.Unmarshal([]byte(v), &ev); err != nil {
			return nil, fmt.Errorf("%s tag: %w", mkv.TagEvent, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// clipSpan is one fragment of a clip, for mapping producer time to the
// clip's presentation time.
type clipSpan struct {
	producer int64   // Unix ns of the fragment's first presented sample
	duration int64   // ns
	start    float64 // that sample's stored presentation time, seconds
}

// spansPresent maps a producer time (Unix ns) to the clip's presentation
// time (seconds) through the fragment it falls in (the first one for a
// time before the clip). origin is the stored time (seconds) that is 0 on
// the clip's presentation timeline.
func spansPresent(spans []clipSpan, origin float64) func(ns int64) float64 {
	return func(ns int64) float64 {
		s := spans[0]
		for _, sp := range spans[1:] {
			if sp.producer > ns {
				break
			}
			s = sp
		}
		return float64(ns-s.producer)/1e9 + s.start - origin
	}
}

// clipEmsg returns the emsg boxes of the events overlapping the
// producer-time range [from, to) in Unix ns, in time order, and how many
// events they carry. present maps an event's start to the clip's
// presentation time (seconds), timescale is the video track's.
func clipEmsg(tl *events.Timeline, from, to int64, present func(ns int64) float64, timescale uint32) ([]byte, int, error) {
	if tl == nil {
		return nil, 0, nil
	}
	evs, _, err := overlapping(tl, from, to, MaxClipEvents)
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	n := 0
	for i := range evs {
		ev := &evs[i]
		pres := present(ev.Start()) * float64(timescale)
		dur := ev.Duration * float64(timescale)
		if pres < 0 {
			dur = max(dur+pres, 0)
			pres = 0
		}
		data, err := eventJSON(ev)
		if err != nil {
			return nil, 0, err
		}
		box := &mp4ff.EmsgBox{
			Version:          1,
			TimeScale:        timescale,
			PresentationTime: uint64(math.Round(pres)),
			EventDuration:    uint32(min(math.Round(dur), math.MaxUint32-1)),
			ID:               uint32(ev.Seq),
			SchemeIDURI:      EmsgScheme,
			Value:            ev.Type,
			MessageData:      data,
		}
		if buf.Len()+int(box.Size()) > MaxClipEventBytes {
			break
		}
		if err := box.Encode(&buf); err != nil {
			return nil, 0, err
		}
		n++
	}
	return buf.Bytes(), n, nil
}
