package main

import (
	"fmt"
	"testing"
)

// TestParseContentRange reads the Content-Range of a resumed clip.
func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in          string
		first, size int64
		ok          bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-4/10", 0, 0, false},  // out of order
		{"bytes 5-10/10", 0, 0, false}, // past the end
		{"bytes 5-9/*", 0, 0, false},   // unknown size
		{"bytes */10", 0, 0, false},    // a 416's
		{"bytes -5-9/10", 0, 0, false}, // negative
		{"bytes +5-9/10", 0, 0, false}, // a sign
		{"items 5-9/10", 0, 0, false},  // another unit
		{"bytes 5-9", 0, 0, false},     // no size
		{"", 0, 0, false},
	} {
		first, size, ok := parseContentRange(tc.in)
		if first != tc.first || size != tc.size || ok != tc.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tc.in, first, size, ok, tc.first, tc.size, tc.ok)
		}
	}
}

// FuzzContentRange: whatever the server sends, a range that is accepted
// is one the header states exactly, inside the clip.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes */10", "bytes 9223372036854775806-9223372036854775806/9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, size, ok := parseContentRange(s)
		if !ok {
			return
		}
		if first < 0 || first >= size {
			t.Fatalf("%q: first %d of %d", s, first, size)
		}
		var a, b, n int64
		if _, err := fmt.Sscanf(s, "bytes %d-%d/%d", &a, &b, &n); err != nil || a != first || n != size {
			t.Fatalf("%q read as %d/%d", s, first, size)
		}
	})
}
