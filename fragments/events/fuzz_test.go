package events

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzParse: any record either is not an event, is refused with a
// message, or is an event within the schema's limits whose JSON form
// parses back to the same event.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"detection","time":"2026-12-06T10:00:01.250Z","duration":0.8,"label":"person","score":0.91,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":7}}`,
		`{"type":"fragment","fragmentNumber":"1"}`, `{"type":5}`, `{"type":"x","box":[1,1,1,1]}`, `{"type":"x","time":"yesterday"}`,
		`{"type":"x","score":"high"}`, `{"type":"x","attributes":[1]}`, `not json`, `[1,2]`, `{}`, `{"type":"x","duration":-1}`,
	} {
		f.Add([]byte(s))
	}
	arrival := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data, arrival)
		if errors.Is(err, ErrNotEvent) {
			return
		}
		var e *Error
		if errors.As(err, &e) {
			if e.Message == "" {
				t.Fatal("refusal without a message")
			}
			return
		}
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		if ev.Type == "" || len(ev.Type) > MaxTypeLength || len(ev.Label) > MaxLabelLength || ev.Duration < 0 || ev.Duration > MaxDuration.Seconds() {
			t.Fatalf("accepted %+v", ev)
		}
		if ev.Score != nil && (*ev.Score < 0 || *ev.Score > 1) {
			t.Fatalf("score %v", *ev.Score)
		}
		if ev.Box != nil {
			for _, v := range ev.Box {
				if v < 0 || v > 1 {
					t.Fatalf("box %v", *ev.Box)
				}
			}
		}
		if ev.Time.After(arrival.Add(MaxFuture)) || ev.Time.Before(arrival.Add(-MaxPast)) {
			t.Fatalf("time %v", ev.Time)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(b, arrival)
		if err != nil {
			t.Fatalf("own JSON %s: %v", b, err)
		}
		if again.Start() != ev.Start() || again.End() != ev.End() || again.Label != ev.Label || again.Type != ev.Type || string(again.Attributes) != string(ev.Attributes) {
			t.Fatalf("round trip %+v != %+v", again, ev)
		}
	})
}

// FuzzParseToken: a token parses only as what Token makes of it.
func FuzzParseToken(f *testing.F) {
	f.Add("1765015201250000000.42")
	f.Add("-5.0")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) {
		start, seq, ok := ParseToken(s)
		if !ok {
			return
		}
		if s2, q2, ok := ParseToken(Token(start, seq)); !ok || s2 != start || q2 != seq {
			t.Fatalf("%q: round trip", s)
		}
	})
}

// FuzzDecodeEntries: an hour file of any content decodes without a panic,
// and good entries are found after any garbage.
func FuzzDecodeEntries(f *testing.F) {
	good := encodeEntry(5, 9, 3, "t", "l", []byte(`{"id":"x"}`))
	f.Add([]byte{}, good)
	f.Add([]byte("garbage"), good)
	f.Fuzz(func(t *testing.T, garbage, tail []byte) {
		_, _ = decodeEntries(tail)
		buf := append(append(append([]byte{}, garbage...), good...), good...)
		es, _ := decodeEntries(buf)
		if len(es) < 2 {
			t.Fatalf("found %d of the 2 good entries after %d bytes of garbage", len(es), len(garbage))
		}
		last := es[len(es)-1]
		if last.start != 5 || last.end != 9 || last.seq != 3 || string(last.typ(buf)) != "t" || string(last.label(buf)) != "l" || string(last.body(buf)) != `{"id":"x"}` {
			t.Fatalf("entry %+v", last)
		}
	})
}

// FuzzFragmentNotice: whatever isFragmentNotice takes for a fragment
// notice, the full parse finds not to be an event; and the notices the
// store writes are taken.
func FuzzFragmentNotice(f *testing.F) {
	notice := `{"type":"fragment","streamName":"cam-1","fragmentNumber":"91343852333181432392682062607743920146264633835","producerTimestamp":1765015200000,"serverTimestamp":1765015200012,"fragmentLengthInMilliseconds":2000,"fragmentSizeInBytes":500048,"keyframe":true}`
	if !isFragmentNotice([]byte(notice)) {
		f.Fatal("a store's fragment notice is not taken for one")
	}
	for _, s := range []string{
		notice, `{"type":"fragment",}`, `{"type":"fragment","type":"detection"}`, `{"type":"fragment","TYPE":"detection"}`,
		`{"type":"fragment","t\u0079pe":"detection"}`, `{"type":"fragment","a":1,"Type":5}`, `{"type":"fragment","streamName":"mytype"}`,
		`{"type":"fragment","x":"é"}`, `{"type":"fragment"}`, `{"type":"fragment" ,"a":1}`, `{"type":"fragment","a":{"type":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	arrival := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !isFragmentNotice(data) {
			return
		}
		for _, bounds := range []bool{true, false} {
			if _, err := parseJSON(data, arrival, bounds); !errors.Is(err, ErrNotEvent) {
				t.Fatalf("%q taken for a fragment notice; parsed in full: %v", data, err)
			}
		}
	})
}
