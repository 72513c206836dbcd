package web

import (
	"testing"
	"time"
)

func TestMergeSpans(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	sp := func(a, b float64) Span { return Span{at(a), at(b)} }
	for _, tc := range []struct {
		name     string
		in       []Span
		from, to float64
		want     []Span
	}{
		{"empty", nil, 0, 10, nil},
		{"touching", []Span{sp(0, 2), sp(2, 4)}, 0, 10, []Span{sp(0, 4)}},
		{"within tolerance", []Span{sp(0, 2), sp(2.05, 4)}, 0, 10, []Span{sp(0, 4)}},
		{"gap", []Span{sp(0, 2), sp(2.5, 4)}, 0, 10, []Span{sp(0, 2), sp(2.5, 4)}},
		{"unsorted and overlapping", []Span{sp(4, 6), sp(0, 2), sp(1, 5)}, 0, 10, []Span{sp(0, 6)}},
		{"clipped", []Span{sp(-3, 1), sp(8, 12), sp(20, 22)}, 0, 10, []Span{sp(0, 1), sp(8, 10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MergeSpans(tc.in, at(tc.from), at(tc.to), mergeTolerance)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Start.Equal(tc.want[i].Start) || !got[i].End.Equal(tc.want[i].End) {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	if d := coveredIn([]Span{sp(0, 2), sp(5, 9)}, at(1), at(6)); d != 2*time.Second {
		t.Errorf("coveredIn = %v", d)
	}
}

func TestHashedName(t *testing.T) {
	for name, want := range map[string]bool{
		"app-VZAKHXQJ.js": true, "app-ISHCW4DC.css": true, "app.js": false, "app-short.js": false, "x-abcdefgh.js": false,
	} {
		if hashedName(name) != want {
			t.Errorf("hashedName(%q) != %v", name, want)
		}
	}
}
