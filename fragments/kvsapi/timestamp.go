package kvsapi

import (
	"encoding/json"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsjson"
)

// Timestamp is a point in time on the Kinesis Video wire: epoch seconds
// with a millisecond fraction, as a JSON number (restJson1's default
// timestamp format, the one the Kinesis Data Streams API's JSON uses too).
// It is the one timestamp type of every Kinesis Video operation.
type Timestamp struct{ time.Time }

// MarshalJSON writes epoch seconds with a millisecond fraction.
func (t Timestamp) MarshalJSON() ([]byte, error) { return awsjson.AppendTimestamp(nil, t.Time), nil }

// UnmarshalJSON reads epoch seconds (a number, or a numeric string) or an
// RFC 3339 string; null leaves t as it is. Anything else is a
// *json.UnmarshalTypeError, so that Decode names the member.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	tt, err := awsjson.ParseTimestamp(b)
	if err != nil {
		kind := "number"
		switch b[0] {
		case '"':
			kind = "string"
		case '{':
			kind = "object"
		case '[':
			kind = "array"
		case 't', 'f':
			kind = "bool"
		}
		return &json.UnmarshalTypeError{Value: kind, Type: timestampType}
	}
	t.Time = tt
	return nil
}
