package kvsapi

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTimestamp(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{`1700000000.5`, time.UnixMilli(1_700_000_000_500), true},
		{`"1700000000.25"`, time.UnixMilli(1_700_000_000_250), true},
		{`"2026-12-06T10:00:01.25Z"`, time.Date(2026, 12, 6, 10, 0, 1, 250e6, time.UTC), true},
		{`"yesterday"`, time.Time{}, false},
		{`true`, time.Time{}, false},
		{`{}`, time.Time{}, false},
		{`1e300`, time.Time{}, false},
	} {
		var ts Timestamp
		err := ts.UnmarshalJSON([]byte(c.in))
		if (err == nil) != c.ok || (c.ok && !ts.Equal(c.want)) {
			t.Errorf("%s: %v, %v; want %v (ok %v)", c.in, ts.Time, err, c.want, c.ok)
		}
	}
	b, _ := Timestamp{time.UnixMilli(1_551_924_009_774)}.MarshalJSON()
	if string(b) != "1551924009.774" {
		t.Errorf("MarshalJSON = %s", b)
	}
}

type decodeProbe struct {
	StreamRef
	MaxResults *int64 `json:"MaxResults"`
	Range      *struct {
		Start *Timestamp `json:"StartTimestamp"`
	} `json:"TimestampRange"`
	Fragments []string `json:"Fragments"`
}

// FuzzDecode: any request body either decodes or fails with an
// InvalidArgumentException; it never panics.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, ``, `{"StreamName":"cam","MaxResults":5}`, `{"StreamARN":5}`,
		`{"TimestampRange":{"StartTimestamp":"2026-01-02T03:04:05Z"}}`, `{"Fragments":["1",2]}`, `[`, `{"StreamName":"a",`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v decodeProbe
		err := Decode(httptest.NewRequest("POST", "/listFragments", strings.NewReader(body)), &v)
		var e *Error
		if err != nil && (!errors.As(err, &e) || e.Code != CodeInvalidArgument || e.Message == "") {
			t.Fatalf("Decode(%q) = %v", body, err)
		}
	})
}
