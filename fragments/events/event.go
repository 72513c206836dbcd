package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// Limits of the event schema.
const (
	MaxTypeLength      = 64
	MaxLabelLength     = 256
	MaxAttributesBytes = 16 << 10 // the attributes object as written
	MaxDuration        = 24 * time.Hour
	MaxFuture          = time.Hour         // time may lead the arrival by this much
	MaxPast            = 87600 * time.Hour // and trail it by this much (10 years)
	fragmentNoticeType = "fragment"
	boxTolerance       = 1e-6
)

// Event is one event on the timeline, as the read APIs return it.
type Event struct {
	// ID is the record's sequence number in the event stream: unique, and
	// what GetRecords and SubscribeToShard report for the same record.
	ID   string    `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"` // the producer's clock: when it happened
	// Duration is in seconds (0: an instant).
	Duration   float64         `json:"duration,omitempty"`
	Label      string          `json:"label,omitempty"`
	Score      *float64        `json:"score,omitempty"`
	Box        *[4]float64     `json:"box,omitempty"` // x, y, w, h; 0–1 of the frame
	Attributes json.RawMessage `json:"attributes,omitempty"`
	// ServerTime is the record's arrival (ApproximateArrivalTimestamp).
	ServerTime time.Time `json:"serverTime"`

	Seq uint64 `json:"-"` // the record's sequence within shard 0
}

// Start and End bound the event in producer time, in Unix ns.
func (e *Event) Start() int64 { return e.Time.UnixNano() }

// End is Start plus the duration.
func (e *Event) End() int64 { return e.Start() + int64(e.Duration*float64(time.Second)) }

// Overlaps reports whether the event overlaps the producer-time range
// [from, to) in Unix ns: it starts before to, and ends after from or (an
// instant) starts at or after from.
func (e *Event) Overlaps(from, to int64) bool { return overlaps(e.Start(), e.End(), from, to) }

// overlaps is the rule of Overlaps for an event from start to end (Unix
// ns), shared with the index's entries.
func overlaps(start, end, from, to int64) bool {
	return start < to && (start >= from || end > from)
}

// ErrNotEvent is what Parse returns for a record that is not an event.
var ErrNotEvent = errors.New("not an event")

// Error is why an event was refused: a message for the writer, in terms of
// the schema.
type Error struct{ Message string }

func (e *Error) Error() string { return e.Message }

func refuse(format string, args ...any) error {
	return &Error{Message: "The event is invalid: " + fmt.Sprintf(format, args...)}
}

// wire is the schema as written. Members are raw so that a wrong type is
// reported by name.
type wire struct {
	Type       json.RawMessage `json:"type"`
	Time       json.RawMessage `json:"time"`
	Duration   json.RawMessage `json:"duration"`
	Label      json.RawMessage `json:"label"`
	Score      json.RawMessage `json:"score"`
	Box        json.RawMessage `json:"box"`
	Attributes json.RawMessage `json:"attributes"`
}

// Parse reads a record of an event stream that arrived at arrival. It
// returns ErrNotEvent for a record that is not an event (stored, not on
// the timeline), an *Error for an event that breaks the schema (refused),
// and the event otherwise (ID and Seq left for the caller).
func Parse(data []byte, arrival time.Time) (Event, error) { return parse(data, arrival, true) }

// noticePrefix opens every fragment notice the store writes (its
// FragmentEvent marshalled: type is its first member).
const noticePrefix = `{"type":"` + fragmentNoticeType + `",`

// isFragmentNotice reports, without decoding it, that data is a record
// parse would find not to be an event because its type is "fragment" (or
// because it is not JSON): it opens with noticePrefix and nothing after
// could be a second member named type (encoding/json takes the last of
// duplicate names, matched without case): no "type" in any case, no
// escape, no byte outside ASCII. Every fragment notice of the store (one
// per fragment, on every video stream's event stream) is checked twice by
// parse (CheckRecord, then Committed); json.Valid and json.Unmarshal of
// them were about 1% of the server's CPU at 100 cameras. FuzzFragmentNotice
// holds it to parse's answer.
func isFragmentNotice(data []byte) bool {
	rest, ok := bytes.CutPrefix(data, []byte(noticePrefix))
	if !ok {
		return false
	}
	for i, c := range rest {
		if c == '\\' || c >= utf8.RuneSelf {
			return false
		}
		if (c == 't' || c == 'T') && i+4 <= len(rest) && bytes.EqualFold(rest[i:i+4], []byte("type")) {
			return false
		}
	}
	return true
}

// parse is Parse; bounds false skips the check of time against arrival
// (a record already stored is indexed as it is).
func parse(data []byte, arrival time.Time, bounds bool) (Event, error) {
	if isFragmentNotice(data) {
		return Event{}, ErrNotEvent
	}
	return parseJSON(data, arrival, bounds)
}

// parseJSON is parse without the fragment notice shortcut.
func parseJSON(data []byte, arrival time.Time, bounds bool) (Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' || !json.Valid(data) {
		return Event{}, ErrNotEvent
	}
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return Event{}, ErrNotEvent
	}
	if w.Type == nil {
		return Event{}, ErrNotEvent
	}
	var ev Event
	if err := str(w.Type, &ev.Type); err != nil {
		return Event{}, refuse("type must be a string (%s)", err)
	}
	if ev.Type == fragmentNoticeType {
		return Event{}, ErrNotEvent
	}
	if ev.Type == "" || len(ev.Type) > MaxTypeLength {
		return Event{}, refuse("type must be 1 to %d bytes long", MaxTypeLength)
	}
	ev.ServerTime = arrival.UTC()
	ev.Time = ev.ServerTime
	if present(w.Time) {
		var s string
		if err := str(w.Time, &s); err != nil {
			return Event{}, refuse("time must be an RFC 3339 string such as 2026-12-06T10:00:01.250Z (%s)", err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Event{}, refuse("time %q is not an RFC 3339 time such as 2026-12-06T10:00:01.250Z", s)
		}
		if bounds && t.After(arrival.Add(MaxFuture)) {
			return Event{}, refuse("time %s is more than %s after the arrival time %s", s, MaxFuture, arrival.UTC().Format(time.RFC3339Nano))
		}
		if bounds && t.Before(arrival.Add(-MaxPast)) {
			return Event{}, refuse("time %s is more than 10 years before the arrival time %s", s, arrival.UTC().Format(time.RFC3339Nano))
		}
		ev.Time = t.UTC()
	}
	if present(w.Duration) {
		d, err := num(w.Duration)
		if err != nil {
			return Event{}, refuse("duration must be a number of seconds (%s)", err)
		}
		if d < 0 || d > MaxDuration.Seconds() {
			return Event{}, refuse("duration %g is outside 0 to %g seconds", d, MaxDuration.Seconds())
		}
		ev.Duration = d
	}
	if present(w.Label) {
		if err := str(w.Label, &ev.Label); err != nil {
			return Event{}, refuse("label must be a string (%s)", err)
		}
		if len(ev.Label) > MaxLabelLength {
			return Event{}, refuse("label is %d bytes long; the limit is %d", len(ev.Label), MaxLabelLength)
		}
	}
	if present(w.Score) {
		s, err := num(w.Score)
		if err != nil {
			return Event{}, refuse("score must be a number from 0 to 1 (%s)", err)
		}
		if s < 0 || s > 1 {
			return Event{}, refuse("score %g is outside 0 to 1", s)
		}
		ev.Score = &s
	}
	if present(w.Box) {
		var raw []json.RawMessage
		if err := json.Unmarshal(w.Box, &raw); err != nil || len(raw) != 4 {
			return Event{}, refuse("box must be an array of four numbers [x, y, w, h], each 0 to 1 of the frame")
		}
		var b [4]float64
		for i, r := range raw {
			v, err := num(r)
			if err != nil {
				return Event{}, refuse("box[%d] must be a number (%s)", i, err)
			}
			if v < 0 || v > 1 {
				return Event{}, refuse("box[%d] %g is outside 0 to 1 (the box is relative to the frame)", i, v)
			}
			b[i] = v
		}
		if b[0]+b[2] > 1+boxTolerance || b[1]+b[3] > 1+boxTolerance {
			return Event{}, refuse("box [%g, %g, %g, %g] extends beyond the frame (x+w and y+h must be at most 1)", b[0], b[1], b[2], b[3])
		}
		ev.Box = &b
	}
	if present(w.Attributes) {
		if len(w.Attributes) > MaxAttributesBytes {
			return Event{}, refuse("attributes are %d bytes; the limit is %d", len(w.Attributes), MaxAttributesBytes)
		}
		if w.Attributes[0] != '{' {
			return Event{}, refuse("attributes must be a JSON object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, w.Attributes); err != nil {
			return Event{}, refuse("attributes: %s", err)
		}
		ev.Attributes = buf.Bytes()
	}
	return ev, nil
}

func present(r json.RawMessage) bool { return r != nil && string(r) != "null" }

func str(r json.RawMessage, dst *string) error {
	if len(r) == 0 || r[0] != '"' {
		return fmt.Errorf("got %s", kind(r))
	}
	if err := json.Unmarshal(r, dst); err != nil {
		return err
	}
	if !utf8.ValidString(*dst) {
		return errors.New("not UTF-8")
	}
	return nil
}

func num(r json.RawMessage) (float64, error) {
	var f float64
	if len(r) == 0 || (r[0] != '-' && (r[0] < '0' || r[0] > '9')) {
		return 0, fmt.Errorf("got %s", kind(r))
	}
	if err := json.Unmarshal(r, &f); err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not finite")
	}
	return f, nil
}

func kind(r json.RawMessage) string {
	switch {
	case len(r) == 0:
		return "nothing"
	case r[0] == '"':
		return "a string"
	case r[0] == '{':
		return "an object"
	case r[0] == '[':
		return "an array"
	case r[0] == 't' || r[0] == 'f':
		return "a boolean"
	case r[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}
