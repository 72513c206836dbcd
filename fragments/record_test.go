package fragments

import (
	"errors"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	f := &Fragment{ServerTime: 1, ProducerTime: 5, Duration: 2e9, Keyframe: true, Discontinuity: true, InitID: InitID{1, 2, 3}, Media: []byte("moofmdat")}
	b := appendRecord(nil, f)
	g, err := parseRecord(7, b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Seq != 7 || g.ServerTime != 1 || g.ProducerTime != 5 || g.Duration != 2e9 || !g.Keyframe || !g.Discontinuity || g.InitID != f.InitID || string(g.Media) != "moofmdat" {
		t.Fatalf("round trip: %+v", g)
	}
	if e := g.indexEntry(len(b)); e.Flags != IndexKeyframe|IndexDiscontinuity {
		t.Fatalf("index flags %b", e.Flags)
	}
	if _, err := parseRecord(1, []byte("EFR1short")); err == nil {
		t.Fatal("short record accepted")
	}
}

// TestFragmentRule: the rule the recorder checks before appending is the
// one the reader applies when it parses a record, and the one listing
// applies to index entries, except that reads also take the fragments of
// 30 to 60 s that earlier releases could store.
func TestFragmentRule(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	good := Fragment{ServerTime: now, ProducerTime: now, Duration: int64(2 * time.Second), Media: []byte("moofmdat")}
	for _, c := range []struct {
		name string
		edit func(*Fragment)
		ok   bool
		read bool // readable although refused (stored by an earlier release)
	}{
		{"good", func(*Fragment) {}, true, true},
		{"zero duration", func(f *Fragment) { f.Duration = 0 }, true, true},
		{"longest", func(f *Fragment) { f.Duration = int64(MaxFragmentDuration) }, true, true},
		{"negative duration (a backward timestamp jump)", func(f *Fragment) { f.Duration = -4e9 }, false, false},
		{"longer than the cut rules allow", func(f *Fragment) { f.Duration = int64(MaxFragmentDuration) + 1 }, false, true},
		{"the longest of earlier releases", func(f *Fragment) { f.Duration = int64(time.Minute) }, false, true},
		{"longer than earlier releases allowed", func(f *Fragment) { f.Duration = int64(time.Minute) + 1 }, false, false},
		{"13 days (a forward jump)", func(f *Fragment) { f.Duration = 1_152_000_000 * 1e6 }, false, false},
		{"no media", func(f *Fragment) { f.Media = nil }, false, false},
		{"over 50 MB", func(f *Fragment) { f.Media = make([]byte, MaxFragmentBytes+1) }, false, false},
		{"producer clock before 1970", func(f *Fragment) { f.ProducerTime = -1 }, false, false},
		{"server time past 2116", func(f *Fragment) { f.ServerTime = 1 << 62 }, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := good
			c.edit(&f)
			err := f.Validate()
			if (err == nil) != c.ok {
				t.Fatalf("Validate = %v, want ok %v", err, c.ok)
			}
			readOK := c.ok || c.read
			_, perr := parseRecord(1, appendRecord(nil, &f))
			if (perr == nil) != readOK {
				t.Fatalf("parseRecord = %v, want ok %v", perr, readOK)
			}
			e := f.indexEntry(recordHeader + len(f.Media))
			if validEntry(&e) != readOK {
				t.Fatalf("validEntry = %v, want %v", !readOK, readOK)
			}
			if err == nil {
				return
			}
			var fe *Error
			if !errors.Is(err, ErrInvalidFragment) || !errors.As(err, &fe) || fe.Kind != KindInvalidArgument {
				t.Fatalf("error %v: not an ErrInvalidFragment of KindInvalidArgument", err)
			}
		})
	}
}
