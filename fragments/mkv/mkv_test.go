package mkv

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/avc"

	"github.com/eddy-video/eddy/media/mediatest"
)

// mkvTestTracks is an H.264-like video track, AAC and Opus.
func mkvTestTracks() []Track {
	return []Track{
		{
			Number: 1, UID: 0x1111, Type: Video, CodecID: "V_MPEG4/ISO/AVC", Name: "kinesis_video",
			// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1): version 1, High@3.0, 4-byte lengths, 1 SPS, 1 PPS.
			CodecPrivate: []byte{0x01, 0x64, 0x00, 0x1E, 0xFF, 0xE1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1E, 0x01, 0x00, 0x02, 0x68, 0xEE},
			Width:        1280, Height: 720,
		},
		{
			Number: 2, UID: 0x2222, Type: Audio, CodecID: "A_AAC", Name: "kinesis_audio",
			CodecPrivate: []byte{0x12, 0x10}, // AudioSpecificConfig: AAC-LC, 44.1 kHz, stereo
			SampleRate:   44100, Channels: 2,
		},
		{
			Number: 3, UID: 0x3333, Type: Audio, CodecID: "A_OPUS",
			CodecPrivate: []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"),
			SampleRate:   48000, Channels: 2, BitDepth: 16,
			CodecDelay: 6_500_000, SeekPreRoll: 80_000_000,
		},
	}
}

// mkvTestFragments builds n fragments of 2 s each with frames on every track,
// B-frame-like negative relative times and KVS tags.
func mkvTestFragments(n int) []*Fragment {
	tracks := mkvTestTracks()
	base := 1_700_000_000_123 * time.Millisecond
	var out []*Fragment
	for k := range n {
		tc := base + time.Duration(k)*2*time.Second
		f := &Fragment{Tracks: tracks, Timecode: tc, Title: "cam1"}
		for i := range 10 {
			// decode order I P B B ...: presentation of B frames precedes the P frame
			rel := time.Duration(i)*200*time.Millisecond - 40*time.Millisecond*time.Duration(i%2)
			if i == 1 {
				rel = -80 * time.Millisecond
			}
			f.Frames = append(f.Frames, Frame{Track: 1, Time: rel, Key: i == 0, Data: bytes.Repeat([]byte{byte(k), byte(i)}, 50+i*300)})
			f.Frames = append(f.Frames, Frame{Track: 2, Time: time.Duration(i) * 200 * time.Millisecond, Key: true, Data: []byte{0x21, byte(i), byte(k)}})
			if i%3 == 0 {
				f.Frames = append(f.Frames, Frame{Track: 3, Time: time.Duration(i)*200*time.Millisecond + 7*time.Millisecond, Key: true, Data: []byte{0xFC, byte(i)}})
			}
		}
		num := fmt.Sprintf("9134385233318143239268206260774392014626486749%d", k)
		f.PreTags = []Tag{
			{TagFragmentNumber, num},
			{TagServerTimestamp, FormatTimestamp(time.Unix(0, int64(tc)).Add(time.Second))},
			{TagProducerTimestamp, FormatTimestamp(time.Unix(0, int64(tc)))},
			{"AWS_KINESISVIDEO_NOTIFICATION", ""},
		}
		f.PostTags = []Tag{{TagMillisBehindNow, "78569"}, {TagContinuationToken, num}}
		if k == 1 {
			f.PostTags = nil // a fragment without post tags
			f.Title = ""
		}
		out = append(out, f)
	}
	return out
}

func mkvWriteAll(t testing.TB, frags []*Fragment) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, f := range frags {
		if err := WriteFragment(&buf, f); err != nil {
			t.Fatalf("WriteFragment: %v", err)
		}
	}
	return buf.Bytes()
}

func mkvReadAll(t testing.TB, r *Reader) ([]*Fragment, error) {
	t.Helper()
	var out []*Fragment
	for {
		f, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, f)
		if len(out) > 10000 {
			t.Fatal("reader does not terminate")
		}
	}
}

// mkvEqual compares fragments treating nil and empty slices alike.
func mkvEqual(a, b *Fragment) bool {
	norm := func(f *Fragment) Fragment {
		c := *f
		c.Tracks = append([]Track(nil), f.Tracks...)
		for i := range c.Tracks {
			if len(c.Tracks[i].CodecPrivate) == 0 {
				c.Tracks[i].CodecPrivate = nil
			}
		}
		if len(c.Tracks) == 0 {
			c.Tracks = nil
		}
		c.Frames = append([]Frame(nil), f.Frames...)
		for i := range c.Frames {
			if len(c.Frames[i].Data) == 0 {
				c.Frames[i].Data = nil
			}
		}
		if len(c.Frames) == 0 {
			c.Frames = nil
		}
		if len(c.PreTags) == 0 {
			c.PreTags = nil
		}
		if len(c.PostTags) == 0 {
			c.PostTags = nil
		}
		return c
	}
	x, y := norm(a), norm(b)
	return reflect.DeepEqual(&x, &y)
}

func mkvDiff(t *testing.T, want, got *Fragment) {
	t.Helper()
	if mkvEqual(want, got) {
		return
	}
	if !reflect.DeepEqual(want.Tracks, got.Tracks) {
		t.Errorf("tracks:\nwant %+v\n got %+v", want.Tracks, got.Tracks)
	}
	if want.Timecode != got.Timecode || want.Title != got.Title {
		t.Errorf("timecode/title: want %v %q, got %v %q", want.Timecode, want.Title, got.Timecode, got.Title)
	}
	if len(want.Frames) != len(got.Frames) {
		t.Errorf("frames: want %d, got %d", len(want.Frames), len(got.Frames))
	} else {
		for i := range want.Frames {
			w, g := want.Frames[i], got.Frames[i]
			if w.Track != g.Track || w.Time != g.Time || w.Key != g.Key || !bytes.Equal(w.Data, g.Data) {
				t.Errorf("frame %d: want {%d %v %v %d bytes}, got {%d %v %v %d bytes}", i, w.Track, w.Time, w.Key, len(w.Data), g.Track, g.Time, g.Key, len(g.Data))
			}
		}
	}
	t.Errorf("pre tags: want %v, got %v; post tags: want %v, got %v", want.PreTags, got.PreTags, want.PostTags, got.PostTags)
}

func TestMKVRoundTrip(t *testing.T) {
	frags := mkvTestFragments(5)
	data := mkvWriteAll(t, frags)
	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("EmitOnClusterEnd=%v", eager), func(t *testing.T) {
			r := NewReader(bytes.NewReader(data))
			r.EmitOnClusterEnd = eager
			got, err := mkvReadAll(t, r)
			if err != io.EOF {
				t.Fatalf("Next: %v, want io.EOF", err)
			}
			var want []*Fragment
			for _, f := range frags {
				if !eager {
					want = append(want, f)
					continue
				}
				// eager: post tags come back as a fragment without frames
				c := *f
				c.PostTags = nil
				want = append(want, &c)
				if len(f.PostTags) > 0 {
					want = append(want, &Fragment{Tracks: f.Tracks, Title: f.Title, PreTags: f.PostTags})
				}
			}
			if len(got) != len(want) {
				t.Fatalf("got %d fragments, want %d", len(got), len(want))
			}
			for i := range want {
				mkvDiff(t, want[i], got[i])
			}
			if r.Offset() != int64(len(data)) {
				t.Errorf("Offset = %d, want %d", r.Offset(), len(data))
			}
		})
	}
}

// TestMKVRounding: sub-millisecond times are rounded on the absolute time.
func TestMKVRounding(t *testing.T) {
	tracks := mkvTestTracks()[:1]
	f := &Fragment{Tracks: tracks, Timecode: 1000*time.Millisecond + 600*time.Microsecond, Frames: []Frame{
		{Track: 1, Key: true, Data: []byte{1}},
		{Track: 1, Time: 33333333, Data: []byte{2}}, // abs 1033.933 → 1034
		{Track: 1, Time: 66666667, Data: []byte{3}}, // abs 1067.267 → 1067
		{Track: 1, Time: -100000, Data: []byte{4}},  // abs 1000.5 → 1001
		{Track: 1, Time: -1100000, Data: []byte{5}}, // abs 999.5 → 1000 (halves away from zero)
		{Track: 1, Time: -1600000, Data: []byte{6}}, // abs 999.0 → 999
		{Track: 1, Time: -32767 * time.Millisecond, Data: []byte{7}},
	}}
	var buf bytes.Buffer
	if err := WriteFragment(&buf, f); err != nil {
		t.Fatal(err)
	}
	got, err := NewReader(&buf).Next()
	if err != nil {
		t.Fatal(err)
	}
	if got.Timecode != 1001*time.Millisecond {
		t.Errorf("timecode %v", got.Timecode)
	}
	want := []time.Duration{0, 33, 66, 0, -1, -2, -32767}
	for i, w := range want {
		if got.Frames[i].Time != w*time.Millisecond {
			t.Errorf("frame %d: time %v, want %v", i, got.Frames[i].Time, w*time.Millisecond)
		}
	}
}

// mkvTopLevel lists the IDs, header sizes and data sizes of consecutive elements.
type mkvTestElem struct {
	id   uint32
	size int64 // -1 unknown
	data []byte
}

func mkvTestElems(t *testing.T, b []byte, descend map[uint32]bool) []mkvTestElem {
	t.Helper()
	var out []mkvTestElem
	for len(b) > 0 {
		id, n, ok := mkvParseID(b)
		if !ok {
			t.Fatalf("bad ID at % x", b[:min(8, len(b))])
		}
		size, m, ok := mkvVint(b[n:])
		if !ok {
			t.Fatal("bad size")
		}
		e := mkvTestElem{id: id, size: int64(size)}
		if mkvVintUnknown(b[n : n+m]) {
			e.size = -1
		}
		b = b[n+m:]
		if e.size >= 0 {
			e.data, b = b[:e.size], b[e.size:]
		}
		out = append(out, e)
		if e.size >= 0 && descend[id] {
			out = append(out, mkvTestElems(t, e.data, descend)...)
		}
	}
	return out
}

func TestMKVStructure(t *testing.T) {
	frags := mkvTestFragments(1)
	data := mkvWriteAll(t, frags)

	wantHead := []byte{
		0x1A, 0x45, 0xDF, 0xA3, 0xA3, // EBML, 35 bytes
		0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01, 0x42, 0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08,
		0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a',
		0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02,
		0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // Segment, unknown size
	}
	if !bytes.HasPrefix(data, wantHead) {
		t.Fatalf("document starts with\n% x\nwant\n% x", data[:len(wantHead)], wantHead)
	}
	if !bytes.Contains(data, []byte{0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40}) {
		t.Error("no TimestampScale 1000000")
	}

	elems := mkvTestElems(t, data, map[uint32]bool{mkvIDEBML: true})
	var ids []uint32
	for _, e := range elems {
		ids = append(ids, e.id)
	}
	// The Segment has unknown size, so its children follow it at this level.
	wantIDs := []uint32{mkvIDEBML, 0x4286, 0x42F7, 0x42F2, 0x42F3, 0x4282, 0x4287, 0x4285,
		mkvIDSegment, mkvIDInfo, mkvIDTracks, mkvIDTags, mkvIDCluster, mkvIDTags}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("element sequence %x, want %x", ids, wantIDs)
	}
	cluster := elems[12]
	if cluster.size < 0 {
		t.Fatal("cluster of unknown size")
	}
	inner := mkvTestElems(t, cluster.data, nil)
	if inner[0].id != mkvIDTimestamp || mkvUint(inner[0].data) != uint64(frags[0].Timecode/time.Millisecond) {
		t.Errorf("cluster starts with %x = %d", inner[0].id, mkvUint(inner[0].data))
	}
	nBlocks := 0
	for _, e := range inner[1:] {
		if e.id != mkvIDSimpleBlock {
			t.Errorf("cluster child %x", e.id)
		}
		nBlocks++
	}
	if nBlocks != len(frags[0].Frames) {
		t.Errorf("%d SimpleBlocks, want %d", nBlocks, len(frags[0].Frames))
	}
	// first block: track 1, time 0, keyframe flag
	if b := inner[1].data; b[0] != 0x81 || b[1] != 0 || b[2] != 0 || b[3] != 0x80 {
		t.Errorf("first SimpleBlock header % x", b[:4])
	}
	// second video block (after audio and Opus): track 1, relative -80 ms (0xFFB0), not key
	if b := inner[4].data; b[0] != 0x81 || b[1] != 0xFF || b[2] != 0xB0 || b[3] != 0x00 {
		t.Errorf("B-frame SimpleBlock header % x", b[:4])
	}

	// Tags: Tag{Targets{}, SimpleTag{TagName, TagString}...}
	tags := mkvTestElems(t, elems[11].data, map[uint32]bool{mkvIDTag: true, mkvIDSimpleTag: true})
	if tags[0].id != mkvIDTag || tags[1].id != mkvIDTargets || tags[1].size != 0 || tags[2].id != mkvIDSimpleTag ||
		tags[3].id != mkvIDTagName || string(tags[3].data) != TagFragmentNumber || tags[4].id != mkvIDTagString {
		t.Errorf("unexpected Tags layout %+v", tags[:5])
	}
}

func TestMKVWriteValidation(t *testing.T) {
	good := func() *Fragment {
		return &Fragment{Tracks: mkvTestTracks(), Timecode: time.Hour, Frames: []Frame{{Track: 1, Key: true, Data: []byte{1}}}}
	}
	tests := []struct {
		name   string
		modify func(f *Fragment)
		want   string
	}{
		{"track 0", func(f *Fragment) { f.Frames[0].Track = 0 }, "track number 0"},
		{"unknown track", func(f *Fragment) { f.Frames[0].Track = 9 }, "unknown track 9"},
		{"time too big", func(f *Fragment) { f.Frames[0].Time = 32768 * time.Millisecond }, "outside"},
		{"time too small", func(f *Fragment) { f.Frames[0].Time = -32769 * time.Millisecond }, "outside"},
		{"time huge", func(f *Fragment) { f.Frames[0].Time = math.MaxInt64 }, "outside"},
		{"negative timecode", func(f *Fragment) { f.Timecode = -time.Millisecond }, "cluster timecode"},
		{"huge timecode", func(f *Fragment) { f.Timecode = math.MaxInt64 }, "cluster timecode"},
		{"frame too big", func(f *Fragment) { f.Frames[0].Data = make([]byte, MaxFrameSize+1) }, "limit"},
		{"no frames", func(f *Fragment) { f.Frames = nil }, "no frames"},
		{"no tracks", func(f *Fragment) { f.Tracks = nil }, "no tracks"},
		{"track number 0", func(f *Fragment) { f.Tracks[0].Number = 0 }, "track number"},
		{"duplicate number", func(f *Fragment) { f.Tracks[1].Number = 1 }, "duplicate track number"},
		{"duplicate UID", func(f *Fragment) { f.Tracks[1].UID = f.Tracks[0].UID }, "duplicate track UID"},
		{"UID 0", func(f *Fragment) { f.Tracks[0].UID = 0 }, "UID"},
		{"no codec", func(f *Fragment) { f.Tracks[0].CodecID = "" }, "CodecID"},
		{"video without size", func(f *Fragment) { f.Tracks[0].Width = 0 }, "Width"},
		{"audio without rate", func(f *Fragment) { f.Tracks[1].SampleRate = 0 }, "SampleRate"},
		{"audio NaN rate", func(f *Fragment) { f.Tracks[1].SampleRate = math.NaN() }, "SampleRate"},
		{"audio without channels", func(f *Fragment) { f.Tracks[1].Channels = 0 }, "Channels"},
		{"video fields on audio", func(f *Fragment) { f.Tracks[1].Width = 5 }, "non-video"},
		{"audio fields on video", func(f *Fragment) { f.Tracks[0].Channels = 5 }, "non-audio"},
		{"bad type", func(f *Fragment) { f.Tracks[0].Type = 0 }, "track type"},
		{"big codec private", func(f *Fragment) { f.Tracks[0].CodecPrivate = make([]byte, MaxCodecPrivateSize+1) }, "CodecPrivate"},
		{"empty tag name", func(f *Fragment) { f.PreTags = []Tag{{"", "x"}} }, "empty tag name"},
		{"NUL in tag", func(f *Fragment) { f.PostTags = []Tag{{"A", "x\x00"}} }, "NUL"},
		{"long title", func(f *Fragment) { f.Title = strings.Repeat("x", MaxStringSize+1) }, "Title"},
		{"too many tags", func(f *Fragment) { f.PreTags = make([]Tag, MaxTags+1) }, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := good()
			tc.modify(f)
			var buf bytes.Buffer
			err := WriteFragment(&buf, f)
			if !errors.Is(err, ErrInvalidFragment) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidFragment containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written before the validation error", buf.Len())
			}
		})
	}
	if err := WriteFragment(io.Discard, good()); err != nil {
		t.Fatalf("good fragment: %v", err)
	}
	if err := WriteFragment(io.Discard, nil); !errors.Is(err, ErrInvalidFragment) {
		t.Errorf("nil fragment: %v", err)
	}
}

type mkvFailWriter struct{ n int }

func (w *mkvFailWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("broken pipe")
	}
	w.n--
	return len(p), nil
}

func TestMKVWriteError(t *testing.T) {
	f := mkvTestFragments(1)[0]
	f.Frames = append(f.Frames, Frame{Track: 1, Data: make([]byte, 100<<10)})
	counter := &mkvFailWriter{n: math.MaxInt}
	if err := WriteFragment(counter, f); err != nil {
		t.Fatal(err)
	}
	writes := math.MaxInt - counter.n
	if writes < 3 {
		t.Fatalf("only %d writes", writes)
	}
	for n := range writes {
		if err := WriteFragment(&mkvFailWriter{n: n}, f); err == nil || err.Error() != "broken pipe" {
			t.Errorf("after %d of %d writes: err = %v", n, writes, err)
		}
	}
}

func TestMKVWriteAllocs(t *testing.T) {
	f := mkvTestFragments(1)[0]
	f.Frames = append(f.Frames, Frame{Track: 1, Data: make([]byte, 100<<10)})
	if err := WriteFragment(io.Discard, f); err != nil { // warm the pool
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		if err := WriteFragment(io.Discard, f); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("WriteFragment: %v allocations per fragment", allocs)
	}
}

func BenchmarkMKVWriteFragment(b *testing.B) {
	f := mkvTestFragments(1)[0]
	n := 0
	for _, fr := range f.Frames {
		n += len(fr.Data)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFragment(io.Discard, f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMKVErrorDocument: good fragments followed by a tags-only error document.
func TestMKVErrorDocument(t *testing.T) {
	frags := mkvTestFragments(2)
	var buf bytes.Buffer
	buf.Write(mkvWriteAll(t, frags))
	if err := WriteTagsDocument(&buf, frags[0].Tracks, ErrorTags("FRAGMENT_NOT_FOUND", 4000)); err != nil {
		t.Fatal(err)
	}
	got, err := mkvReadAll(t, NewReader(&buf))
	if err != io.EOF || len(got) != 3 {
		t.Fatalf("got %d fragments, err %v", len(got), err)
	}
	mkvDiff(t, frags[1], got[1])
	last := got[2]
	if len(last.Frames) != 0 || !reflect.DeepEqual(last.Tracks, frags[0].Tracks) {
		t.Errorf("error document: %+v", last)
	}
	if v, _ := last.Tag(TagErrorCode); v != "FRAGMENT_NOT_FOUND" {
		t.Errorf("error code %q", v)
	}
	if v, _ := last.Tag(TagErrorID); v != "4000" {
		t.Errorf("error id %q", v)
	}
	if err := WriteTagsDocument(io.Discard, nil, nil); !errors.Is(err, ErrInvalidFragment) {
		t.Errorf("empty tags document: %v", err)
	}
	// without tracks
	buf.Reset()
	if err := WriteTagsDocument(&buf, nil, ErrorTags("INTERNAL_ERROR", 5000)); err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(&buf).Next()
	if err != nil || len(f.Tracks) != 0 || len(f.PreTags) != 2 {
		t.Errorf("tracks-less error document: %+v, %v", f, err)
	}
}

func TestMKVFormatTimestamp(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.UnixMilli(1530115740845), "1530115740.845"},
		{time.UnixMilli(1530115740005), "1530115740.005"},
		{time.Unix(0, 0), "0.000"},
		{time.UnixMilli(-1500), "-1.500"},
	} {
		if got := FormatTimestamp(tc.t); got != tc.want {
			t.Errorf("FormatTimestamp(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// Hand-built EBML for reader tests.

func mkvEl(id uint32, payload ...[]byte) []byte {
	body := bytes.Join(payload, nil)
	b := mkvAppendID(nil, id)
	b = mkvAppendSize(b, uint64(len(body)))
	return append(b, body...)
}

// mkvElUnknown is an element with the 8-byte unknown size 0x01FFFFFFFFFFFFFF.
func mkvElUnknown(id uint32, payload ...[]byte) []byte {
	b := mkvAppendID(nil, id)
	b = append(b, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	return append(b, bytes.Join(payload, nil)...)
}

func mkvElUint(id uint32, v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return mkvEl(id, b[8-mkvUintLen(v):])
}

// mkvTestHead is EBML header + unknown-size Segment + Info + Tracks, written by the real writer.
func mkvTestHead(t *testing.T, tracks []Track) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := mkvGetEncoder(&buf)
	e.header("", tracks)
	e.flush()
	mkvPutEncoder(e)
	return buf.Bytes()
}

// mkvSimpleBlock is SimpleBlock data: track VINT, int16 BE relative time, flags, payload.
func mkvSimpleBlock(track byte, rel int16, flags byte, payload ...byte) []byte {
	return mkvEl(mkvIDSimpleBlock, []byte{0x80 | track, byte(uint16(rel) >> 8), byte(rel), flags}, payload)
}

// TestMKVReaderUnknownSizeCluster reads what PutMedia producers send: one
// unknown-size Segment with unknown-size Clusters and tags in between.
func TestMKVReaderUnknownSizeCluster(t *testing.T) {
	tracks := mkvTestTracks()[:2]
	tagsEl := func(name, value string) []byte {
		return mkvEl(mkvIDTags, mkvEl(mkvIDTag, mkvEl(mkvIDSimpleTag, mkvEl(mkvIDTagName, []byte(name)), mkvEl(mkvIDTagString, []byte(value)))))
	}
	stream := bytes.Join([][]byte{
		mkvTestHead(t, tracks),
		tagsEl("A", "1"),
		mkvElUnknown(mkvIDCluster,
			mkvElUint(mkvIDTimestamp, 5000),
			mkvSimpleBlock(1, 0, 0x80, 0xAA),
			mkvEl(mkvIDVoid, []byte{0, 0, 0}), // skipped
			mkvSimpleBlock(2, 10, 0x80, 0xBB),
			mkvSimpleBlock(1, 40, 0x00, 0xCC),
		),
		tagsEl("B", "2"), // before the second cluster: its PreTags
		mkvEl(mkvIDCues, []byte{1, 2, 3}),
		mkvElUnknown(mkvIDCluster,
			mkvElUint(mkvIDTimestamp, 7000),
			mkvSimpleBlock(1, -5, 0x80, 0xDD),
		),
		tagsEl("C", "3"), // after the last cluster: its PostTags
	}, nil)
	want := []*Fragment{
		{Tracks: tracks, Timecode: 5 * time.Second, PreTags: []Tag{{"A", "1"}}, Frames: []Frame{
			{Track: 1, Key: true, Data: []byte{0xAA}},
			{Track: 2, Time: 10 * time.Millisecond, Key: true, Data: []byte{0xBB}},
			{Track: 1, Time: 40 * time.Millisecond, Data: []byte{0xCC}},
		}},
		{Tracks: tracks, Timecode: 7 * time.Second, PreTags: []Tag{{"B", "2"}}, PostTags: []Tag{{"C", "3"}}, Frames: []Frame{
			{Track: 1, Time: -5 * time.Millisecond, Key: true, Data: []byte{0xDD}},
		}},
	}
	got, err := mkvReadAll(t, NewReader(bytes.NewReader(stream)))
	if err != io.EOF || len(got) != len(want) {
		t.Fatalf("got %d fragments, err %v", len(got), err)
	}
	for i := range want {
		mkvDiff(t, want[i], got[i])
	}

	// A second document after the unknown-size segment starts a new one.
	two := append(append([]byte(nil), stream...), mkvWriteAll(t, mkvTestFragments(1))...)
	got, err = mkvReadAll(t, NewReader(bytes.NewReader(two)))
	if err != io.EOF || len(got) != 3 {
		t.Fatalf("two documents: got %d fragments, err %v", len(got), err)
	}
	mkvDiff(t, want[1], got[1])
	mkvDiff(t, mkvTestFragments(1)[0], got[2])

	// Known-size segment holding known and unknown-size clusters; TimestampScale 1 µs.
	info := mkvEl(mkvIDInfo, mkvElUint(mkvIDTimestampScale, 1000), mkvEl(mkvIDTitle, []byte("t\x00\x00")))
	trk := mkvEl(mkvIDTracks, mkvEl(mkvIDTrackEntry, mkvElUint(mkvIDTrackNumber, 1), mkvElUint(mkvIDTrackUID, 1),
		mkvElUint(mkvIDTrackType, 2), mkvEl(mkvIDCodecID, []byte("A_AAC")), mkvEl(mkvIDAudio)))
	seg := mkvEl(mkvIDSegment, info, trk,
		mkvEl(mkvIDCluster, mkvElUint(mkvIDTimestamp, 1000), mkvSimpleBlock(1, 3, 0x80, 1)),
		mkvElUnknown(mkvIDCluster, mkvElUint(mkvIDTimestamp, 2000), mkvSimpleBlock(1, -3, 0x80, 2)))
	stream = append(mkvEBMLHeader[:len(mkvEBMLHeader):len(mkvEBMLHeader)], seg...)
	stream = append(stream, mkvEl(mkvIDVoid, []byte{0})...) // top-level Void after the segment
	got, err = mkvReadAll(t, NewReader(bytes.NewReader(stream)))
	if err != io.EOF || len(got) != 2 {
		t.Fatalf("known-size segment: got %d fragments, err %v", len(got), err)
	}
	if got[0].Title != "t" || got[0].Timecode != time.Millisecond || got[0].Frames[0].Time != 3*time.Microsecond ||
		got[1].Timecode != 2*time.Millisecond || got[1].Frames[0].Time != -3*time.Microsecond {
		t.Errorf("known-size segment: %+v %+v", got[0], got[1])
	}
	// RFC 9559 defaults for an Audio element without children
	if tr := got[0].Tracks[0]; tr.SampleRate != 8000 || tr.Channels != 1 {
		t.Errorf("audio defaults: %+v", tr)
	}
}

// TestMKVReaderLacing decodes hand-built laced blocks (RFC 9559 §10.4).
//
// Every block below is SimpleBlock data laid out as
//
//	0x81          track number 1 (VINT)
//	0x00 0x0A     relative timestamp +10 (int16, big endian)
//	flags         0x80 keyframe | lacing<<1 (0x02 Xiph, 0x06 EBML, 0x04 fixed-size)
//	0x02          number of frames − 1 (three frames)
//	lace sizes    all but the last frame (none for fixed-size lacing)
//	frame data    the three frames back to back
func TestMKVReaderLacing(t *testing.T) {
	f3 := []byte{1, 2, 3}
	f300 := bytes.Repeat([]byte{9}, 300)
	f2 := []byte{7, 8}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name  string
		block []byte // SimpleBlock or BlockGroup element
		want  [][]byte
		key   bool
		err   error
	}{
		{
			name:  "no lacing",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x80}, f3),
			want:  [][]byte{f3}, key: true,
		},
		{
			// Xiph: 3 → 0x03; 300 → 0xFF 0x2D (255 + 45); the last size is implied.
			name:  "Xiph",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x82, 0x02, 0x03, 0xFF, 0x2D}, f3, f300, f2),
			want:  [][]byte{f3, f300, f2}, key: true,
		},
		{
			// EBML: first size VINT 3 → 0x83; then 300−3 = +297 as a 2-byte
			// signed VINT: 297 + (2^13−1) = 8488 = 0x2128, marker → 0x61 0x28.
			name:  "EBML",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x86, 0x02, 0x83, 0x61, 0x28}, f3, f300, f2),
			want:  [][]byte{f3, f300, f2}, key: true,
		},
		{
			// EBML with a negative difference: 300 → 0x41 0x2C; 3−300 = −297:
			// −297 + 8191 = 7894 = 0x1ED6 → 0x5E 0xD6.
			name:  "EBML negative",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x86, 0x02, 0x41, 0x2C, 0x5E, 0xD6}, f300, f3, f2),
			want:  [][]byte{f300, f3, f2}, key: true,
		},
		{
			name:  "fixed-size",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x84, 0x02}, []byte{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3}),
			want:  [][]byte{{1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}}, key: true,
		},
		{
			name:  "Xiph single frame",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x82, 0x00}, f3),
			want:  [][]byte{f3}, key: true,
		},
		{
			name:  "EBML single frame",
			block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x86, 0x00}, f3),
			want:  [][]byte{f3}, key: true,
		},
		{
			// BlockGroup{Block, ReferenceBlock}: Block flags carry no keyframe bit;
			// a ReferenceBlock makes it a delta frame.
			name:  "BlockGroup delta, Xiph",
			block: mkvEl(mkvIDBlockGroup, mkvEl(mkvIDBlock, []byte{0x81, 0x00, 0x0A, 0x02, 0x01, 0x03}, f3, f2), mkvEl(mkvIDReferenceBlock, []byte{0xD8})),
			want:  [][]byte{f3, f2}, key: false,
		},
		{
			name:  "BlockGroup key",
			block: mkvEl(mkvIDBlockGroup, mkvEl(mkvIDBlock, []byte{0x81, 0x00, 0x0A, 0x00}, f2), mkvEl(0x9B, []byte{40})),
			want:  [][]byte{f2}, key: true,
		},
		{name: "Xiph sizes too big", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x82, 0x02, 0xFF, 0xFF, 0x10}, f3), err: ErrMalformed},
		{name: "Xiph sizes truncated", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x82, 0x02, 0xFF}), err: ErrMalformed},
		{name: "EBML negative size", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x86, 0x02, 0x83, 0x5E, 0xD6}, f300), err: ErrMalformed},
		{name: "EBML bad vint", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x86, 0x02, 0x00}), err: ErrMalformed},
		{name: "fixed not divisible", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x84, 0x02}, f300[:10]), err: ErrMalformed},
		{name: "lace count missing", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x0A, 0x84}), err: ErrMalformed},
		{name: "short block", block: mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00}), err: ErrMalformed},
		{name: "track 0", block: mkvEl(mkvIDSimpleBlock, []byte{0x80, 0x00, 0x00, 0x80}), err: ErrMalformed},
		{name: "unknown track", block: mkvEl(mkvIDSimpleBlock, []byte{0x85, 0x00, 0x00, 0x80}), err: ErrUnknownTrack},
		{name: "group without block", block: mkvEl(mkvIDBlockGroup, mkvEl(mkvIDReferenceBlock, []byte{1})), err: ErrMalformed},
		{name: "encrypted block", block: mkvEl(mkvIDEncryptedBlock, []byte{1}), err: ErrUnsupported},
	}
	head := mkvTestHead(t, mkvTestTracks()[:1])
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stream := cat(head, mkvEl(mkvIDCluster, mkvElUint(mkvIDTimestamp, 100), tc.block))
			f, err := NewReader(bytes.NewReader(stream)).Next()
			if tc.err != nil {
				var me *Error
				if !errors.Is(err, tc.err) || !errors.As(err, &me) || me.Offset <= int64(len(head)) {
					t.Fatalf("err = %v, want %v at an offset inside the cluster", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Frames) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(f.Frames), len(tc.want))
			}
			for i, w := range tc.want {
				fr := f.Frames[i]
				if !bytes.Equal(fr.Data, w) || fr.Time != 10*time.Millisecond || fr.Key != tc.key || fr.Track != 1 {
					t.Errorf("frame %d: %+v", i, fr)
				}
			}
		})
	}
}

// TestMKVReaderTruncated: every prefix of a valid stream yields complete
// fragments and then io.EOF or an *Error — never a panic or a partial cluster.
func TestMKVReaderTruncated(t *testing.T) {
	frags := mkvTestFragments(3)
	for _, f := range frags {
		for i := range f.Frames {
			f.Frames[i].Data = f.Frames[i].Data[:min(len(f.Frames[i].Data), 5)]
		}
	}
	data := mkvWriteAll(t, frags)
	for n := range len(data) + 1 {
		got, err := mkvReadAll(t, NewReader(bytes.NewReader(data[:n])))
		var me *Error
		if err != io.EOF && (!errors.As(err, &me) || !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Fatalf("prefix %d: err = %v", n, err)
		}
		if n == len(data) && (err != io.EOF || len(got) != len(frags)) {
			t.Fatalf("full stream: %d fragments, %v", len(got), err)
		}
		for i, g := range got {
			w := *frags[i]
			if i == len(got)-1 && !mkvEqual(&w, g) {
				// The stream may end inside the post tags, or right after the
				// pre tags (a Segment with Tags and no Cluster).
				w.PostTags = nil
				if len(g.Frames) == 0 {
					w = Fragment{Tracks: w.Tracks, Title: w.Title, PreTags: w.PreTags}
				}
			}
			if !mkvEqual(&w, g) {
				t.Fatalf("prefix %d: fragment %d differs", n, i)
			}
		}
	}
}

func TestMKVReaderErrors(t *testing.T) {
	head := mkvTestHead(t, mkvTestTracks()[:1])
	cluster := mkvEl(mkvIDCluster, mkvElUint(mkvIDTimestamp, 1), mkvSimpleBlock(1, 0, 0x80, 1))
	ebml := func(children ...[]byte) []byte { return mkvEl(mkvIDEBML, children...) }
	tests := []struct {
		name   string
		stream []byte
		err    error
		reason string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\n"), ErrMalformed, "EBML header"},
		{"zero byte", []byte{0x00}, ErrMalformed, "invalid element ID"},
		{"segment first", mkvElUnknown(mkvIDSegment), ErrMalformed, "EBML header"},
		{"doctype", ebml(mkvEl(mkvIDDocType, []byte("mp4"))), ErrUnsupported, "DocType"},
		{"read version", ebml(mkvElUint(mkvIDEBMLReadVersion, 2)), ErrUnsupported, "EBMLReadVersion"},
		{"doc read version", ebml(mkvElUint(mkvIDDocTypeReadVersion, 5)), ErrUnsupported, "DocTypeReadVersion"},
		{"huge EBML header", append(mkvAppendSize(mkvAppendID(nil, mkvIDEBML), 1<<40), 1), ErrTooLarge, "EBML header"},
		{"unknown-size EBML header", mkvElUnknown(mkvIDEBML), ErrMalformed, "unknown size"},
		{"bad size vint", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x00}, ErrMalformed, "invalid size"},
		{"unknown-size Info", append(bytes.Clone(head), mkvElUnknown(mkvIDInfo)...), ErrMalformed, "unknown size"},
		{"unknown-size skip", append(bytes.Clone(head), mkvElUnknown(mkvIDCues)...), ErrMalformed, "unknown size"},
		{"huge block", append(bytes.Clone(head), mkvElUnknown(mkvIDCluster, mkvAppendSize(mkvAppendID(nil, mkvIDSimpleBlock), 1<<40))...), ErrTooLarge, "SimpleBlock"},
		{"huge tracks", append(bytes.Clone(mkvEBMLHeader), mkvElUnknown(mkvIDSegment, mkvAppendSize(mkvAppendID(nil, mkvIDTracks), 1<<40))...), ErrTooLarge, "Tracks"},
		{"cluster without timestamp", append(bytes.Clone(head), mkvEl(mkvIDCluster, mkvSimpleBlock(1, 0, 0x80, 1))...), ErrMalformed, "without Timestamp"},
		{"cluster before tracks", append(append(bytes.Clone(mkvEBMLHeader), mkvSegmentUnknown...), cluster...), ErrUnknownTrack, "track 1"},
		{"child overflows cluster", bytes.Join([][]byte{head, mkvAppendSize(mkvAppendID(nil, mkvIDCluster), 2), mkvElUint(mkvIDTimestamp, 1)}, nil), ErrMalformed, "does not fit"},
		{"child overflows segment", bytes.Join([][]byte{mkvEBMLHeader, mkvAppendSize(mkvAppendID(nil, mkvIDSegment), 3), mkvEl(mkvIDInfo)}, nil), ErrMalformed, "crosses"},
		{"header straddles segment end", bytes.Join([][]byte{mkvEBMLHeader, mkvAppendSize(mkvAppendID(nil, mkvIDSegment), 2), mkvEl(mkvIDCluster)}, nil), ErrMalformed, "crosses"},
		{"segment in known segment", append(bytes.Clone(mkvEBMLHeader), mkvEl(mkvIDSegment, mkvElUnknown(mkvIDSegment))...), ErrMalformed, "inside a Segment"},
		{"timestamp scale 0", append(append(bytes.Clone(mkvEBMLHeader), mkvSegmentUnknown...), mkvEl(mkvIDInfo, mkvEl(mkvIDTimestampScale))...), ErrUnsupported, "TimestampScale"},
		{"content encodings", append(append(bytes.Clone(mkvEBMLHeader), mkvSegmentUnknown...), mkvEl(mkvIDTracks, mkvEl(mkvIDTrackEntry, mkvElUint(mkvIDTrackNumber, 1), mkvEl(mkvIDContentEncodings)))...), ErrUnsupported, "ContentEncodings"},
		{"duplicate track", append(append(bytes.Clone(mkvEBMLHeader), mkvSegmentUnknown...), mkvEl(mkvIDTracks, mkvEl(mkvIDTrackEntry, mkvElUint(mkvIDTrackNumber, 1)), mkvEl(mkvIDTrackEntry, mkvElUint(mkvIDTrackNumber, 1)))...), ErrMalformed, "duplicate"},
		{"track without number", append(append(bytes.Clone(mkvEBMLHeader), mkvSegmentUnknown...), mkvEl(mkvIDTracks, mkvEl(mkvIDTrackEntry, mkvElUint(mkvIDTrackUID, 1)))...), ErrMalformed, "TrackNumber"},
		{"tag without name", append(bytes.Clone(head), mkvEl(mkvIDTags, mkvEl(mkvIDTag, mkvEl(mkvIDSimpleTag, mkvEl(mkvIDTagString, []byte("x")))))...), ErrMalformed, "TagName"},
		{"nested unknown size", append(bytes.Clone(head), mkvEl(mkvIDTags, mkvElUnknown(mkvIDTag))...), ErrMalformed, "unknown size"},
		{"overflowing timestamp", append(append(bytes.Clone(mkvEBMLHeader), mkvSegmentUnknown...),
			bytes.Join([][]byte{mkvEl(mkvIDInfo, mkvElUint(mkvIDTimestampScale, 1e9)), mkvEl(mkvIDCluster, mkvElUint(mkvIDTimestamp, math.MaxUint64))}, nil)...), ErrMalformed, "overflows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mkvReadAll(t, NewReader(bytes.NewReader(tc.stream)))
			var me *Error
			if !errors.Is(err, tc.err) || !errors.As(err, &me) || !strings.Contains(me.Reason, tc.reason) {
				t.Fatalf("err = %v, want %v with reason containing %q", err, tc.err, tc.reason)
			}
		})
	}

	// The error is sticky.
	r := NewReader(strings.NewReader("garbage"))
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v / %v", err1, err2)
	}
}

// TestMKVReaderLimits: forged sizes cost no memory, and the fragment budget holds.
func TestMKVReaderLimits(t *testing.T) {
	head := mkvTestHead(t, mkvTestTracks()[:1])
	// A SimpleBlock claiming 60 MiB that carries 10 bytes.
	forged := append(bytes.Clone(head), mkvElUnknown(mkvIDCluster, mkvElUint(mkvIDTimestamp, 1),
		mkvAppendSize(mkvAppendID(nil, mkvIDSimpleBlock), 60<<20), make([]byte, 10))...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := mkvReadAll(t, NewReader(bytes.NewReader(forged)))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("forged block size cost %d bytes of allocation", d)
	}

	// MaxFrameSize and MaxFragmentSize.
	frames := bytes.Repeat(mkvSimpleBlock(1, 0, 0x80, make([]byte, 100)...), 20)
	stream := append(bytes.Clone(head), mkvEl(mkvIDCluster, mkvElUint(mkvIDTimestamp, 1), frames)...)
	r := NewReader(bytes.NewReader(stream))
	r.MaxFrameSize = 50
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxFrameSize: %v", err)
	}
	r = NewReader(bytes.NewReader(stream))
	r.MaxFragmentSize = 10 * (100 + FrameOverhead)
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxFragmentSize: %v", err)
	}
	r = NewReader(bytes.NewReader(stream))
	r.MaxFragmentSize = 20 * (100 + FrameOverhead)
	if f, err := r.Next(); err != nil || len(f.Frames) != 20 {
		t.Errorf("within MaxFragmentSize: %v", err)
	}

	// Tags budget across several Tags elements.
	tag := mkvEl(mkvIDTags, mkvEl(mkvIDTag, bytes.Repeat(mkvEl(mkvIDSimpleTag, mkvEl(mkvIDTagName, []byte("n"))), 100)))
	stream = append(bytes.Clone(head), bytes.Repeat(tag, MaxTags/100+1)...)
	if _, err := mkvReadAll(t, NewReader(bytes.NewReader(stream))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("tag budget: %v", err)
	}
}

// mkvH264AccessUnits splits an Annex-B H.264 stream into access units
// (ISO/IEC 14496-10 §7.4.1.2.3): a new AU starts at an AUD/SPS/PPS/SEI after
// a VCL NAL unit, or at a slice with first_mb_in_slice == 0.
func mkvH264AccessUnits(annexB []byte) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	hasVCL := false
	for _, n := range avc.ExtractNalusFromByteStream(annexB) {
		if len(n) == 0 {
			continue
		}
		typ := n[0] & 0x1F
		vcl := typ >= 1 && typ <= 5
		firstSlice := vcl && len(n) > 1 && n[1]&0x80 != 0 // ue(v) first_mb_in_slice == 0 is the bit "1"
		if hasVCL && (firstSlice || typ == 6 || typ == 7 || typ == 8 || typ == 9) {
			aus = append(aus, cur)
			cur, hasVCL = nil, false
		}
		cur = append(cur, n)
		hasVCL = hasVCL || vcl
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// TestMKVFFprobe writes real H.264 (from ffmpeg) and checks that ffprobe
// decodes streams and frames from our documents.
func TestMKVFFprobe(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	ffprobe := "ffprobe"
	samples, cpd := testH264(t)
	track := Track{Number: 1, UID: 1, Type: Video, CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: cpd, Width: 320, Height: 240, Name: "kinesis_video"}
	base := 1_700_000_000_000 * time.Millisecond
	var frags []*Fragment
	for i, s := range samples {
		key, sample := s.key, s.data
		pts := time.Duration(i) * 40 * time.Millisecond
		if key {
			frags = append(frags, &Fragment{Tracks: []Track{track}, Timecode: base + pts,
				PreTags: []Tag{{TagFragmentNumber, fmt.Sprint(len(frags))}}})
		}
		f := frags[len(frags)-1]
		f.Frames = append(f.Frames, Frame{Track: 1, Time: base + pts - f.Timecode, Key: key, Data: sample})
	}
	if len(frags) != 2 {
		t.Fatalf("%d fragments (GOPs), want 2", len(frags))
	}

	type probe struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
		} `json:"streams"`
		Frames []struct {
			KeyFrame int    `json:"key_frame"`
			PtsTime  string `json:"pts_time"`
		} `json:"frames"`
	}
	run := func(t *testing.T, frags []*Fragment) probe {
		path := filepath.Join(t.TempDir(), "out.mkv")
		if err := os.WriteFile(path, mkvWriteAll(t, frags), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ffprobe, "-v", "error", "-show_streams", "-show_frames", "-of", "json", path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		js, err := cmd.Output()
		if err != nil {
			t.Fatalf("ffprobe: %v\n%s", err, stderr.String())
		}
		if stderr.Len() > 0 {
			// ffmpeg's demuxer notes the second document's Segment header
			// inside the first (unknown-size) Segment, then reads on.
			t.Logf("ffprobe reports: %s", stderr.String())
			if len(frags) == 1 {
				t.Error("ffprobe complains about a single document")
			}
		}
		var p probe
		if err := json.Unmarshal(js, &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Streams) != 1 || p.Streams[0].CodecName != "h264" || p.Streams[0].Width != 320 || p.Streams[0].Height != 240 {
			t.Fatalf("streams: %+v", p.Streams)
		}
		return p
	}
	t.Run("one document", func(t *testing.T) {
		one := &Fragment{Tracks: frags[0].Tracks, Timecode: frags[0].Timecode}
		for _, f := range frags {
			for _, fr := range f.Frames {
				fr.Time += f.Timecode - one.Timecode
				one.Frames = append(one.Frames, fr)
			}
		}
		p := run(t, []*Fragment{one})
		if len(p.Frames) != 50 {
			t.Fatalf("ffprobe decoded %d frames, want 50", len(p.Frames))
		}
		for i, fr := range p.Frames {
			wantKey := 0
			if i%25 == 0 {
				wantKey = 1
			}
			wantPts := fmt.Sprintf("%.6f", (base + time.Duration(i)*40*time.Millisecond).Seconds())
			if fr.KeyFrame != wantKey || fr.PtsTime != wantPts {
				t.Errorf("frame %d: key %d pts %s, want key %d pts %s", i, fr.KeyFrame, fr.PtsTime, wantKey, wantPts)
			}
		}
	})
	t.Run("GetMedia stream", func(t *testing.T) {
		// Two concatenated documents, one per GOP, as GetMedia sends them.
		p := run(t, frags)
		if len(p.Frames) < 25 {
			t.Fatalf("ffprobe decoded %d frames, want at least the first fragment's 25", len(p.Frames))
		}
		t.Logf("ffprobe decoded %d frames from 2 concatenated documents", len(p.Frames))
	})
}

// h264Sample is one access unit as an AVCC (length-prefixed) sample.
type h264Sample struct {
	data []byte
	key  bool
}

// testH264 encodes 2 s of ffmpeg's test pattern (320x240, 25 fps, a
// keyframe every 25 frames, no B-frames) and returns its access units as
// AVCC samples (access unit delimiters left out) and the avcC of its
// parameter sets.
func testH264(t *testing.T) (samples []h264Sample, avcC []byte) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "25", "-pix_fmt", "yuv420p",
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", "-").Output()
	if err != nil {
		mediatest.Missing(t, fmt.Sprintf("ffmpeg cannot encode H.264 (%v)", err))
	}
	aus := mkvH264AccessUnits(out)
	if len(aus) != 50 {
		t.Fatalf("%d access units, want 50", len(aus))
	}
	var sps, pps [][]byte
	for _, n := range aus[0] {
		switch n[0] & 0x1F {
		case 7:
			sps = append(sps, n)
		case 8:
			pps = append(pps, n)
		}
	}
	rec, err := avc.CreateAVCDecConfRec(sps, pps, true)
	if err != nil {
		t.Fatal(err)
	}
	var cpd bytes.Buffer
	if err := rec.Encode(&cpd); err != nil {
		t.Fatal(err)
	}
	for _, au := range aus {
		var s h264Sample
		for _, n := range au {
			switch n[0] & 0x1F {
			case 5:
				s.key = true
			case 9:
				continue // AUD: not carried in AVCC samples
			}
			s.data = binary.BigEndian.AppendUint32(s.data, uint32(len(n)))
			s.data = append(s.data, n...)
		}
		samples = append(samples, s)
	}
	return samples, cpd.Bytes()
}
