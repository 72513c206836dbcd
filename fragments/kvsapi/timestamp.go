package kvsapi

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a point in time on the Kinesis Video wire: epoch seconds
// with a millisecond fraction, as a JSON number (restJson1's default
// timestamp format). It is the one timestamp type of every Kinesis Video
// operation.
type Timestamp struct{ time.Time }

// MarshalJSON writes epoch seconds with a millisecond fraction.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', 3, 64), nil
}

// UnmarshalJSON reads epoch seconds (a number, or a numeric string) or an
// RFC 3339 string; null leaves t as it is. Anything else is a
// *json.UnmarshalTypeError, so that Decode names the member.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	kind := "number"
	if strings.HasPrefix(s, `"`) {
		kind = "string"
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		if tt, err := time.Parse(time.RFC3339Nano, str); err == nil {
			t.Time = tt
			return nil
		}
		s = str
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		switch b[0] {
		case '{':
			kind = "object"
		case '[':
			kind = "array"
		case 't', 'f':
			kind = "bool"
		}
		return &json.UnmarshalTypeError{Value: kind, Type: timestampType}
	}
	t.Time = time.UnixMilli(int64(math.Round(f * 1000)))
	return nil
}
