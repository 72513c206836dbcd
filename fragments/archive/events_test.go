package archive_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	mp4ff "github.com/Eyevinn/mp4ff/mp4"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// written is an event as a test wrote it, with the ID PutRecords gave it.
type written struct {
	id, typ, label string
	seq            uint64
	at             time.Time
	dur            float64
	score          float64
	box            [4]float64
	attrs          string
}

func (w written) overlaps(from, to int64) bool {
	ev := events.Event{Time: w.at, Duration: w.dur}
	return ev.Overlaps(from, to)
}

// putEvents writes events to the stream's event stream and returns them
// with their IDs (the records' sequence numbers).
func putEvents(t *testing.T, s *datastreams.Stream, ws []written) []written {
	t.Helper()
	es := make([]datastreams.PutEntry, 0, len(ws)+1)
	for _, w := range ws {
		b := fmt.Sprintf(`{"type":%q,"time":%q,"duration":%g,"label":%q,"score":%g,"box":[%g,%g,%g,%g],"attributes":%s}`,
			w.typ, w.at.Format(time.RFC3339Nano), w.dur, w.label, w.score, w.box[0], w.box[1], w.box[2], w.box[3], w.attrs)
		es = append(es, datastreams.PutEntry{Key: []byte("k"), Data: []byte(b)})
	}
	es = append(es, datastreams.PutEntry{Key: []byte("k"), Data: []byte("not an event")}) // stored, not on the timeline
	res, err := s.Put(es)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
		if i < len(ws) {
			ws[i].id, ws[i].seq = datastreams.EncodeSeq(r.Shard, r.Seq), r.Seq
		}
	}
	return ws
}

// sameEvent compares an event read out of media with what was written.
func sameEvent(got events.Event, w written) error {
	switch {
	case got.ID != w.id:
		return fmt.Errorf("id %s, want %s", got.ID, w.id)
	case !got.Time.Equal(w.at) || got.Type != w.typ || got.Label != w.label || got.Duration != w.dur:
		return fmt.Errorf("event %s: %s %s %q %gs, want %s %s %q %gs", w.id, got.Type, got.Time.Format(time.RFC3339Nano), got.Label, got.Duration,
			w.typ, w.at.Format(time.RFC3339Nano), w.label, w.dur)
	case got.Score == nil || *got.Score != w.score || got.Box == nil || *got.Box != w.box:
		return fmt.Errorf("event %s: score %v box %v, want %g %v", w.id, got.Score, got.Box, w.score, w.box)
	case string(got.Attributes) != w.attrs:
		return fmt.Errorf("event %s: attributes %s, want %s", w.id, got.Attributes, w.attrs)
	}
	return nil
}

// emsgBoxes returns the top-level emsg boxes of an MP4 file, as mp4ff reads them.
func emsgBoxes(t *testing.T, data []byte) []*mp4ff.EmsgBox {
	t.Helper()
	f, err := mp4ff.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []*mp4ff.EmsgBox
	for _, b := range f.Children {
		if e, ok := b.(*mp4ff.EmsgBox); ok {
			out = append(out, e)
		}
	}
	return out
}

// TestEventsInMedia stores 10 s of synthetic H.264+AAC (2 s fragments)
// and events over it (one per fragment, one spanning three fragments,
// one that starts before the clip), then reads the MKV of all fragments
// and the MP4 clip of the last four: each MKV fragment carries exactly
// the events that overlap it as EDDY_EVENT tags after the unchanged KVS
// tags, and the clip carries the events overlapping it as emsg boxes
// whose presentation times are within one frame of the written times
// (placed by the frames' own NTP times, as ffprobe reads them), with
// the event JSON as payload; ffmpeg decodes both files.
func TestEventsInMedia(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t0 := time.Unix(1_700_000_000, 0).UTC()
	clk := datastreamstest.NewClock(t0.Add(time.Minute))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	aus := fragmentstest.Synth(10, 50, t0)
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}, aus)
	if len(out) != 5 {
		t.Fatalf("%d fragments, want 5", len(out))
	}
	var seqs []uint64
	var entries []fragments.IndexEntry
	for _, e := range out {
		seq, err := st.Append(e.Init, e.F)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
		ie, _ := st.Lookup(seq)
		entries = append(entries, ie)
	}

	var ws []written
	for i, e := range out {
		at := time.Unix(0, e.F.ProducerTime).Add(time.Duration(300+170*i) * time.Millisecond).UTC()
		ws = append(ws, written{typ: "detection", label: []string{"person", "car"}[i%2], at: at, dur: 0.5,
			score: 0.5 + float64(i)/20, box: [4]float64{0.1, 0.2, 0.3, 0.25}, attrs: fmt.Sprintf(`{"n":%d,"zone":"door"}`, i)})
	}
	ws = append(ws,
		written{typ: "motion", label: "gate", at: t0.Add(2500 * time.Millisecond), dur: 4.2, score: 1, box: [4]float64{0, 0, 1, 1}, attrs: `{}`},
		written{typ: "note", label: "early", at: t0.Add(-time.Second), dur: 3.9, score: 0, box: [4]float64{0.5, 0.5, 0.5, 0.5}, attrs: `{"by":"op"}`})
	evStream, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	ws = putEvents(t, evStream, ws)

	t.Run("MKV", func(t *testing.T) {
		var buf bytes.Buffer
		if err := archive.WriteMKV(st, &buf, seqs); err != nil {
			t.Fatal(err)
		}
		// (The synthetic frames are not decodable pictures: ffprobe
		// reads the container, the server tests decode real video.)
		if s := mediatest.FFprobeJSON(t, buf.Bytes(), "-show_streams")["streams"].([]any); len(s) != 2 {
			t.Errorf("ffprobe reads %d streams of the MKV, want 2", len(s))
		}
		r := mkv.NewReader(&buf)
		for i, e := range out {
			f, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			// The KVS tags come first, as before.
			if len(f.PreTags) < 3 || f.PreTags[0] != (mkv.Tag{Name: mkv.TagFragmentNumber, Value: fragments.FragmentNumber(seqs[i])}) ||
				f.PreTags[1].Name != mkv.TagServerTimestamp || f.PreTags[2] != (mkv.Tag{Name: mkv.TagProducerTimestamp, Value: mkv.FormatTimestamp(time.Unix(0, e.F.ProducerTime))}) {
				t.Errorf("fragment %d: KVS tags %v", i, f.PreTags)
			}
			got, err := archive.MKVEvents(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []written
			for _, w := range ws {
				if w.overlaps(e.F.ProducerTime, e.F.ProducerTime+e.F.Duration) {
					want = append(want, w)
				}
			}
			t.Logf("fragment %d: %d events", i, len(got))
			if len(got) != len(want) {
				t.Fatalf("fragment %d: %d events, want %d: %+v", i, len(got), len(want), got)
			}
			for j := range want {
				k := 0
				for k < len(want) && want[k].id != got[j].ID {
					k++
				}
				if k == len(want) {
					t.Fatalf("fragment %d: event %s not expected", i, got[j].ID)
				}
				if err := sameEvent(got[j], want[k]); err != nil {
					t.Errorf("fragment %d: %v", i, err)
				}
				// Time order: the tags are sorted as the timeline is.
				if j > 0 && got[j].Time.Before(got[j-1].Time) {
					t.Errorf("fragment %d: events out of time order", i)
				}
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Errorf("after the fragments: %v", err)
		}
	})

	t.Run("MP4", func(t *testing.T) {
		clip, err := archive.BuildClip(st, entries[1:])
		if err != nil {
			t.Fatal(err)
		}
		from, to := out[1].F.ProducerTime, out[4].F.ProducerTime+out[4].F.Duration
		var want []written
		for _, w := range ws {
			if w.overlaps(from, to) {
				want = append(want, w)
			}
		}
		if clip.Events != len(want) {
			t.Errorf("clip says %d events, want %d", clip.Events, len(want))
		}
		// The video samples' presentation times, as ffprobe reads them,
		// and their NTP times from the synthetic source.
		probe := mediatest.FFprobeJSON(t, clip.Bytes, "-show_packets", "-select_streams", "v", "-show_entries", "packet=pts_time")
		frames := probe["packets"].([]any)
		var ntp []time.Time
		for _, au := range aus {
			if au.Track == 0 && !au.NTP.Before(time.Unix(0, from)) {
				ntp = append(ntp, au.NTP)
			}
		}
		if len(frames) != len(ntp) || len(frames) != 200 {
			t.Fatalf("clip has %d video frames, the source %d; want 200", len(frames), len(ntp))
		}
		framePTS := func(i int) float64 {
			v, _ := strconv.ParseFloat(frames[i].(map[string]any)["pts_time"].(string), 64)
			return v
		}
		boxes := emsgBoxes(t, clip.Bytes)
		t.Logf("clip of %d fragments: %d emsg boxes", clip.Fragments, len(boxes))
		if len(boxes) != len(want) {
			t.Fatalf("%d emsg boxes, want %d", len(boxes), len(want))
		}
		const frame = 0.040
		for _, b := range boxes {
			var ev events.Event
			if err := json.Unmarshal(b.MessageData, &ev); err != nil {
				t.Fatal(err)
			}
			var w *written
			for i := range want {
				if want[i].id == ev.ID {
					w = &want[i]
				}
			}
			if w == nil {
				t.Fatalf("emsg of unexpected event %s", ev.ID)
			}
			if err := sameEvent(ev, *w); err != nil {
				t.Error(err)
			}
			if b.Version != 1 || b.SchemeIDURI != archive.EmsgScheme || b.Value != w.typ || b.TimeScale != 90000 {
				t.Errorf("emsg %s: version %d scheme %q value %q timescale %d", w.id, b.Version, b.SchemeIDURI, b.Value, b.TimeScale)
			}
			if b.ID != uint32(w.seq) {
				t.Errorf("emsg %s: id %d, want %d (the record's sequence, low 32 bits)", w.id, b.ID, uint32(w.seq))
			}
			// Expected: the presentation time of the last frame at or
			// before the event, plus the rest (0 for an event that began
			// before the clip, whose duration is shortened as much).
			wantPres, wantDur := 0.0, w.dur
			if w.at.UnixNano() < from {
				wantDur -= time.Unix(0, from).Sub(w.at).Seconds()
			} else {
				k := 0
				for k+1 < len(ntp) && !ntp[k+1].After(w.at) {
					k++
				}
				wantPres = framePTS(k) + w.at.Sub(ntp[k]).Seconds()
			}
			gotPres := float64(b.PresentationTime) / float64(b.TimeScale)
			if math.Abs(gotPres-wantPres) > frame {
				t.Errorf("event %s at %s: presentation time %.3f s, want %.3f s ± one frame", w.id, w.at.Format(time.RFC3339Nano), gotPres, wantPres)
			}
			if gotDur := float64(b.EventDuration) / float64(b.TimeScale); math.Abs(gotDur-wantDur) > frame {
				t.Errorf("event %s: duration %.3f s, want %.3f s", w.id, gotDur, wantDur)
			}
		}
	})
}

// TestClipWithoutEvents: a stream without events builds the same clip
// as before (no emsg box).
func TestClipWithoutEvents(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	clk := datastreamstest.NewClock(t0)
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{fragmentstest.Tracks()[0]}}, fragmentstest.Synth(4, 50, t0))
	var entries []fragments.IndexEntry
	for _, e := range out {
		seq, err := st.Append(e.Init, e.F)
		if err != nil {
			t.Fatal(err)
		}
		ie, _ := st.Lookup(seq)
		entries = append(entries, ie)
	}
	clip, err := archive.BuildClip(st, entries)
	if err != nil {
		t.Fatal(err)
	}
	if clip.Events != 0 || len(emsgBoxes(t, clip.Bytes)) != 0 {
		t.Errorf("clip without events has %d events", clip.Events)
	}
}

// FuzzMKVEvents reads arbitrary bytes as a GetMediaForFragmentList answer
// and decodes the events of each fragment: errors, never a panic.
func FuzzMKVEvents(f *testing.F) {
	tracks := []mkv.Track{{Number: 1, UID: 1, Type: mkv.Video, CodecID: "V_VP8", Width: 2, Height: 2}}
	for _, v := range []string{`{"id":"1","type":"detection","time":"2026-12-06T10:00:01.25Z","label":"person","box":[0,0,1,1]}`, `{"id":`, `[]`, `null`} {
		var b bytes.Buffer
		_ = mkv.WriteFragment(&b, &mkv.Fragment{Tracks: tracks, Frames: []mkv.Frame{{Track: 1, Key: true, Data: []byte{1}}},
			PreTags: []mkv.Tag{{Name: mkv.TagFragmentNumber, Value: "1"}, {Name: mkv.TagEvent, Value: v}}})
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := mkv.NewReader(bytes.NewReader(b))
		for range 16 {
			fr, err := r.Next()
			if err != nil {
				return
			}
			evs, err := archive.MKVEvents(fr)
			if err == nil && len(evs) != len(fr.TagValues(mkv.TagEvent)) {
				t.Fatalf("%d events of %d tags", len(evs), len(fr.TagValues(mkv.TagEvent)))
			}
		}
	})
}

// TestMKVEventLimits: a fragment overlapped by more events than one MKV
// fragment carries gets the first MaxMKVEvents in time order and the
// EDDY_EVENTS_TRUNCATED tag; an event with the largest attributes the
// schema allows, all characters JSON could escape, still fits its tag.
func TestMKVEventLimits(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	clk := datastreamstest.NewClock(t0.Add(time.Minute))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: []media.Track{fragmentstest.Tracks()[0]}}, fragmentstest.Synth(2, 50, t0))
	if len(out) != 1 {
		t.Fatalf("%d fragments, want 1", len(out))
	}
	seq, err := st.Append(out[0].Init, out[0].F)
	if err != nil {
		t.Fatal(err)
	}
	s, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	big := `{"html":"` + strings.Repeat("<&>", (events.MaxAttributesBytes-12)/3) + `"}`
	es := []datastreams.PutEntry{{Key: []byte("k"), Data: []byte(fmt.Sprintf(`{"type":"big","time":%q,"attributes":%s}`, t0.Format(time.RFC3339Nano), big))}}
	for i := range archive.MaxMKVEvents + 10 {
		at := t0.Add(time.Millisecond + time.Duration(i)*time.Millisecond)
		es = append(es, datastreams.PutEntry{Key: []byte("k"), Data: []byte(fmt.Sprintf(`{"type":"tick","time":%q}`, at.Format(time.RFC3339Nano)))})
	}
	// The fragment's metadata, past the events' budget in time order: its
	// tags all the same, and no event tag.
	late := t0.Add(1500 * time.Millisecond)
	es = append(es, datastreams.PutEntry{Key: []byte("k"), Data: []byte(fmt.Sprintf(`{"type":%q,"time":%q,"attributes":{"fragmentNumber":%q,"tags":[{"name":"late","value":"1"}]}}`,
		archive.MetadataType, late.Format(time.RFC3339Nano), fragments.FragmentNumber(seq)))})
	res, err := s.Put(es)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
	}
	var buf bytes.Buffer
	if err := archive.WriteMKV(st, &buf, []uint64{seq}); err != nil {
		t.Fatal(err)
	}
	f, err := mkv.NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	evs, err := archive.MKVEvents(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != archive.MaxMKVEvents {
		t.Fatalf("%d events, want %d; first %s %s, tags %d", len(evs), archive.MaxMKVEvents, evs[0].Type, evs[0].Time, len(f.PreTags))
	}
	if v, ok := f.Tag(mkv.TagEventsTruncated); !ok || v != "true" {
		t.Errorf("no %s tag", mkv.TagEventsTruncated)
	}
	if evs[0].Type != "big" || !bytes.Equal(evs[0].Attributes, []byte(big)) {
		t.Errorf("first event %s with %d bytes of attributes, want the big one (%d)", evs[0].Type, len(evs[0].Attributes), len(big))
	}
	last := evs[len(evs)-1]
	if want := t0.Add(time.Duration(archive.MaxMKVEvents-1) * time.Millisecond); last.Type != "tick" || !last.Time.Equal(want) {
		t.Errorf("last event %s at %s, want the tick at %s", last.Type, last.Time.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
	if v, ok := f.Tag("late"); !ok || v != "1" {
		t.Errorf("the fragment's metadata past the events' budget: late = %q, %v; want 1", v, ok)
	}
}

// FuzzUnescapeHTML: for any JSON value, Go's escaped encoding with <, >
// and & put back is valid JSON of the same value.
func FuzzUnescapeHTML(f *testing.F) {
	for _, s := range []string{`{"a":"<&>"}`, `["\\u003c","\\\\u003c",1e3]`, `"\u2028<"`, `{"k\u003c":[null,true,{"x":"\"&\""}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		esc, err := json.Marshal(v)
		if err != nil {
			return
		}
		out := archive.UnescapeHTML(bytes.Clone(esc))
		var back any
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s -> %s: %v", esc, out, err)
		}
		again, _ := json.Marshal(back)
		if !bytes.Equal(again, esc) {
			t.Fatalf("%s -> %s reads back as %s", esc, out, again)
		}
		if bytes.Contains(out, []byte(`\u003c`)) && !bytes.Contains(esc, []byte(`\\u003c`)) {
			t.Fatalf("%s: an escape left in %s", esc, out)
		}
	})
}
