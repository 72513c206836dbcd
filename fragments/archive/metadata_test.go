package archive_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// The metadata events of a fragment give its tags back before its
// Cluster, in order, within Kinesis Video's limits; events naming another
// fragment, and tags a producer could not have sent, do not.
func TestMetadataTags(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	clk := datastreamstest.NewClock(t0.Add(time.Minute))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}, fragmentstest.Synth(4, 25, t0))
	var seqs []uint64
	for _, o := range out[:3] {
		seq, err := st.Append(o.Init, o.F)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	f1, _ := st.Lookup(seqs[1])
	event := func(seq uint64, tags string) datastreams.PutEntry {
		return datastreams.PutEntry{Key: []byte("m"), Data: []byte(fmt.Sprintf(
			`{"type":"metadata","time":%q,"duration":%g,"attributes":{"fragmentNumber":%q,"tags":[%s]}}`,
			time.Unix(0, f1.ProducerTime).UTC().Format(time.RFC3339Nano), float64(f1.Duration)/1e9, fragments.FragmentNumber(seq), tags))}
	}
	long := strings.Repeat("n", archive.MaxTagName+1)
	var many []string
	for i := range 12 {
		many = append(many, fmt.Sprintf(`{"name":"K%02d","value":"%d"}`, i, i))
	}
	s, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Put([]datastreams.PutEntry{
		event(seqs[1], `{"name":"DEVICE","value":"door <1>"},{"name":"AWS_KINESISVIDEO_FRAGMENT_NUMBER","value":"1"},{"name":"`+long+`","value":"x"},{"name":"EMPTY","value":""},{"value":"no name"}`),
		event(seqs[2], `{"name":"OTHER","value":"x"}`), // over fragment 1's time, naming fragment 2
		event(seqs[1], strings.Join(many, ",")),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
	}
	var buf bytes.Buffer
	if err := archive.WriteMKV(st, &buf, seqs); err != nil {
		t.Fatal(err)
	}
	r := mkv.NewReader(&buf)
	want := []mkv.Tag{{Name: "DEVICE", Value: "door <1>"}, {Name: "EMPTY", Value: ""}}
	for i := range 8 {
		want = append(want, mkv.Tag{Name: fmt.Sprintf("K%02d", i), Value: fmt.Sprint(i)})
	}
	for i, seq := range seqs {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		var user []mkv.Tag
		for j, tg := range f.PreTags {
			if j >= 3 && tg.Name != mkv.TagEvent && tg.Name != mkv.TagEventsTruncated {
				user = append(user, tg)
			}
		}
		var w []mkv.Tag
		if i == 1 {
			w = want
		}
		if n, _ := f.Tag(mkv.TagFragmentNumber); n != fragments.FragmentNumber(seq) || !slices.Equal(user, w) {
			t.Errorf("fragment %s: user tags %v, want %v", n, user, w)
		}
	}
}

// A metadata event without a fragment number (what PutMedia writes,
// before it stores the fragment) applies to the fragment that starts
// within archive.MetadataSlack of its time, and to no other; metadata
// events are never event tags, while other events are.
func TestMetadataByTime(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	clk := datastreamstest.NewClock(t0.Add(time.Minute))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Store("cam")
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()}, fragmentstest.Synth(4, 25, t0))
	var seqs []uint64
	var starts []time.Time
	for _, o := range out[:3] {
		seq, err := st.Append(o.Init, o.F)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := st.Lookup(seq)
		seqs, starts = append(seqs, seq), append(starts, time.Unix(0, e.ProducerTime))
	}
	f2, _ := st.Lookup(seqs[2])
	meta := func(at time.Time, dur time.Duration, name string) datastreams.PutEntry {
		b, err := json.Marshal(archive.NewMetadataEvent(at, dur, []mkv.Tag{{Name: name, Value: "v"}}))
		if err != nil {
			t.Fatal(err)
		}
		return datastreams.PutEntry{Key: []byte("m"), Data: b}
	}
	s, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Put([]datastreams.PutEntry{
		meta(starts[1], 0, "A"),
		meta(starts[1].Add(900*time.Microsecond), 0, "B"),
		meta(starts[1].Add(-500*time.Microsecond), time.Second, "C"),
		meta(starts[2].Add(-3*time.Millisecond), 0, "X"), // inside fragment 1, near no start
		meta(starts[2].Add(2*time.Millisecond), 0, "Y"),  // too far from fragment 2's start
		meta(starts[2], time.Duration(f2.Duration), "D"),
		{Key: []byte("m"), Data: []byte(fmt.Sprintf(`{"type":"motion","time":%q,"duration":0.1}`, starts[1].Add(10*time.Millisecond).Format(time.RFC3339Nano)))},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
	}
	var buf bytes.Buffer
	if err := archive.WriteMKV(st, &buf, seqs); err != nil {
		t.Fatal(err)
	}
	r := mkv.NewReader(&buf)
	wantUser := [][]string{nil, {"C", "A", "B"}, {"D"}}
	wantEvents := [][]string{nil, {"motion"}, nil}
	for i := range seqs {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		var user []string
		for _, tg := range f.PreTags[3:] {
			if tg.Name != mkv.TagEvent && tg.Name != mkv.TagEventsTruncated {
				user = append(user, tg.Name)
			}
		}
		evs, err := archive.MKVEvents(f)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
		}
		if !slices.Equal(user, wantUser[i]) || !slices.Equal(types, wantEvents[i]) {
			t.Errorf("fragment %d: user tags %v, events %v; want %v, %v", i, user, types, wantUser[i], wantEvents[i])
		}
	}
}

// UserTags keeps to Kinesis Video's limits and leaves the service's
// reserved tags out.
func TestUserTags(t *testing.T) {
	tags := func(n int) []mkv.Tag {
		ts := []mkv.Tag{{Name: "AWS_KINESISVIDEO_FRAGMENT_NUMBER", Value: "1"}}
		for i := range n {
			ts = append(ts, mkv.Tag{Name: fmt.Sprint("k", i), Value: "v"})
		}
		return ts
	}
	for _, c := range []struct {
		in   []mkv.Tag
		n    int
		isOK bool
	}{
		{tags(archive.MaxUserTags), archive.MaxUserTags, true},
		{tags(archive.MaxUserTags + 1), 0, false},
		{[]mkv.Tag{{Name: strings.Repeat("n", archive.MaxTagName), Value: strings.Repeat("v", archive.MaxTagValue)}}, 1, true},
		{[]mkv.Tag{{Name: strings.Repeat("n", archive.MaxTagName+1), Value: "v"}}, 0, false},
		{[]mkv.Tag{{Name: "n", Value: strings.Repeat("v", archive.MaxTagValue+1)}}, 0, false},
		{[]mkv.Tag{{Name: "", Value: "v"}}, 0, false},
	} {
		got, ok := archive.UserTags(c.in)
		if len(got) != c.n || ok != c.isOK {
			t.Errorf("UserTags(%d tags, first name %d bytes) = %d tags, %v; want %d, %v", len(c.in), len(c.in[0].Name), len(got), ok, c.n, c.isOK)
		}
	}
}
