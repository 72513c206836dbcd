package awsjson

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// AppendTimestamp appends t as the AWS JSON protocols write a
// timestamp: epoch seconds with a millisecond fraction, as a number.
func AppendTimestamp(dst []byte, t time.Time) []byte {
	return strconv.AppendFloat(dst, float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// ParseTimestamp reads a JSON timestamp as the AWS JSON protocols'
// clients send them: epoch seconds (a number, or a numeric string) or an
// RFC 3339 string. (Kinesis Video's restJson1 shares the format.)
func ParseTimestamp(b []byte) (time.Time, error) {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return time.Time{}, err
		}
		if tt, err := time.Parse(time.RFC3339Nano, str); err == nil {
			return tt, nil
		}
		s = str
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		return time.Time{}, fmt.Errorf("timestamp %s is not epoch seconds", s)
	}
	return time.UnixMilli(int64(math.Round(f * 1000))), nil
}
