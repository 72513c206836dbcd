package kdsapi

import (
	"fmt"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/eddy-video/eddy/datastreams/awsjson"
)

// Timestamp is a point in time in the Kinesis wire formats.
type Timestamp struct{ time.Time }

// Ts wraps t for the wire.
func Ts(t time.Time) *Timestamp { return &Timestamp{t} }

// MarshalJSON writes epoch seconds with a millisecond fraction.
func (t Timestamp) MarshalJSON() ([]byte, error) { return awsjson.AppendTimestamp(nil, t.Time), nil }

// UnmarshalJSON reads epoch seconds (number or numeric string) or RFC 3339.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	tt, err := awsjson.ParseTimestamp(b)
	if err == nil {
		t.Time = tt
	}
	return err
}

// MarshalCBOR writes tag 1 with epoch milliseconds, as the AWS Java SDKs do.
func (t Timestamp) MarshalCBOR() ([]byte, error) {
	return cborEnc.Marshal(cbor.Tag{Number: 1, Content: t.UnixMilli()})
}

// UnmarshalCBOR reads epoch milliseconds, tagged (1) or not. (Tag 1 is
// epoch seconds in RFC 8949, but the AWS SDKs put milliseconds in it.)
func (t *Timestamp) UnmarshalCBOR(b []byte) error {
	if len(b) > 0 && b[0]>>5 == 6 { // major type 6: a tag
		var rt cbor.RawTag
		if err := cborDec.Unmarshal(b, &rt); err != nil {
			return err
		}
		b = rt.Content
	}
	var v any
	if err := cborDec.Unmarshal(b, &v); err != nil {
		return err
	}
	switch n := v.(type) {
	case uint64:
		if n > math.MaxInt64 {
			return fmt.Errorf("timestamp %d out of range", n)
		}
		t.Time = time.UnixMilli(int64(n))
	case int64:
		t.Time = time.UnixMilli(n)
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) || math.Abs(n) > 1e16 {
			return fmt.Errorf("timestamp %v out of range", n)
		}
		t.Time = time.UnixMilli(int64(n))
	default:
		return fmt.Errorf("timestamp of CBOR type %T", v)
	}
	return nil
}
