package kvsapi

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/images"
)

// TestImagesQuery: a request's members become the query its NextToken
// carries, and the instant count follows the KVS rules.
func TestImagesQuery(t *testing.T) {
	ts := func(s float64) *Timestamp { return &Timestamp{Time: time.UnixMilli(int64(s * 1000))} }
	i64 := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name     string
		in       getImagesIn
		instants int
		page     int
		spec     images.Spec
	}{
		{"defaults", getImagesIn{ImageSelectorType: "SERVER_TIMESTAMP", StartTimestamp: ts(1e9), EndTimestamp: ts(1e9 + 30), Format: "JPEG"},
			11, 25, images.Spec{Format: "JPEG"}},
		{"span under the interval", getImagesIn{ImageSelectorType: "PRODUCER_TIMESTAMP", StartTimestamp: ts(1e9), EndTimestamp: ts(1e9 + 0.1),
			SamplingInterval: i64(200), Format: "PNG", WidthPixels: i64(64)}, 1, 25, images.Spec{Format: "PNG", Width: 64}},
		{"300 s at 200 ms", getImagesIn{ImageSelectorType: "PRODUCER_TIMESTAMP", StartTimestamp: ts(1e9), EndTimestamp: ts(1e9 + 300),
			SamplingInterval: i64(200), Format: "JPEG", FormatConfig: map[string]string{"JPEGQuality": "35"}, MaxResults: i64(7), HeightPixels: i64(2160)},
			1501, 7, images.Spec{Format: "JPEG", Height: 2160, Quality: 35}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := parseImagesQuery(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if q.instants() != tc.instants || q.Page != tc.page || q.Spec != tc.spec {
				t.Errorf("instants %d, page %d, spec %+v; want %d, %d, %+v", q.instants(), q.Page, q.Spec, tc.instants, tc.page, tc.spec)
			}
			if tc.instants > 1 {
				q.Next, q.Stream = 1, 42
				back, ok := decodeImagesToken(q.encode())
				if !ok || *back != *q {
					t.Errorf("token round trip: %+v, %v; want %+v", back, ok, q)
				}
			}
		})
	}
}

// FuzzImagesToken: any NextToken either is refused or decodes to a query
// a request could have made, which encodes back to the same token.
func FuzzImagesToken(f *testing.F) {
	q := imagesQuery{Kind: fragments.IndexProducerTime, Start: 1e18, End: 1e18 + 60e9, Interval: 1000,
		Spec: images.Spec{Format: "PNG", Width: 640, Quality: 80}, Page: 25, Next: 25, Stream: 7}
	f.Add(q.encode())
	q.Spec.Format, q.Kind, q.Next = "JPEG", fragments.IndexServerTime, 50
	f.Add(q.encode())
	f.Add("")
	f.Add("AAAA")
	f.Add("bm90IGEgdG9rZW4=")
	f.Fuzz(func(t *testing.T, s string) {
		q, ok := decodeImagesToken(s)
		if !ok {
			return
		}
		if q.Next < 1 || q.Next >= q.instants() || q.Page < 1 || q.Page > imagesPageSize || q.Interval < imagesMinInterval ||
			q.End < q.Start || q.End-q.Start > int64(imagesMaxSpan) || q.Spec.Width > imagesMaxWidth || q.Spec.Height > imagesMaxHeight {
			t.Fatalf("accepted an impossible query %+v", q)
		}
		if back := q.encode(); back != s {
			t.Fatalf("token %q decodes to %+v, which encodes to %q", s, q, back)
		}
	})
}
