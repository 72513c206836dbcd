package mkv

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
	"time"
)

// mkvFuzzSeeds are valid streams: KVS-style documents, a tags-only error
// document, and producer-style unknown-size clusters with laced blocks.
func mkvFuzzSeeds(t testing.TB) [][]byte {
	small := mkvTestFragments(2)
	for _, f := range small {
		f.Frames = f.Frames[:6]
		for i := range f.Frames {
			f.Frames[i].Data = f.Frames[i].Data[:min(len(f.Frames[i].Data), 4)]
		}
	}
	docs := mkvWriteAll(t, small)
	var errDoc bytes.Buffer
	if err := WriteTagsDocument(&errDoc, small[0].Tracks[:1], ErrorTags("INTERNAL_ERROR", 5000)); err != nil {
		t.Fatal(err)
	}
	var head bytes.Buffer
	e := mkvGetEncoder(&head)
	e.header("t", mkvTestTracks()[:2])
	e.flush()
	mkvPutEncoder(e)
	producer := bytes.Join([][]byte{
		head.Bytes(),
		mkvElUnknown(mkvIDCluster,
			mkvElUint(mkvIDTimestamp, 1000),
			mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x00, 0x82, 0x01, 0x02}, []byte{1, 2, 3}),             // Xiph
			mkvEl(mkvIDSimpleBlock, []byte{0x82, 0x00, 0x05, 0x86, 0x02, 0x81, 0x5F, 0xFF}, []byte{1, 2, 3}), // EBML
			mkvEl(mkvIDSimpleBlock, []byte{0x82, 0xFF, 0xFB, 0x84, 0x01}, []byte{1, 2, 3, 4}),                // fixed
			mkvEl(mkvIDBlockGroup, mkvEl(mkvIDBlock, []byte{0x81, 0x00, 0x28, 0x00, 9}), mkvEl(mkvIDReferenceBlock, []byte{0xD8})),
		),
		mkvEl(mkvIDTags, mkvEl(mkvIDTag, mkvEl(mkvIDSimpleTag, mkvEl(mkvIDTagName, []byte("N")), mkvEl(mkvIDTagString, []byte("V"))))),
		mkvElUnknown(mkvIDCluster, mkvElUint(mkvIDTimestamp, 3000), mkvEl(mkvIDSimpleBlock, []byte{0x81, 0x00, 0x00, 0x80, 7})),
	}, nil)
	return [][]byte{docs, append(bytes.Clone(docs), errDoc.Bytes()...), producer}
}

// FuzzMKVReader: arbitrary bytes never panic, the reader terminates with
// io.EOF or an *Error, and what it returns respects its limits.
func FuzzMKVReader(f *testing.F) {
	for _, s := range mkvFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, eager := range []bool{false, true} {
			r := NewReader(bytes.NewReader(data))
			r.EmitOnClusterEnd = eager
			r.MaxFrameSize = 1 << 16
			r.MaxFragmentSize = 1 << 20
			for n := 0; ; n++ {
				if n > len(data) {
					t.Fatalf("%d fragments from %d bytes", n, len(data))
				}
				fr, err := r.Next()
				if err != nil {
					var me *Error
					if err != io.EOF && !errors.As(err, &me) {
						t.Fatalf("error %v (%T) is neither io.EOF nor *Error", err, err)
					}
					if me != nil && (me.Offset < 0 || me.Offset > int64(len(data))) {
						t.Fatalf("error offset %d outside the %d-byte input", me.Offset, len(data))
					}
					break
				}
				var cost int
				for _, fr := range fr.Frames {
					if len(fr.Data) > r.MaxFrameSize {
						t.Fatalf("frame of %d bytes", len(fr.Data))
					}
					cost += len(fr.Data) + FrameOverhead
				}
				if cost > r.MaxFragmentSize || len(fr.Tracks) > MaxTracks || len(fr.PreTags) > MaxTags || len(fr.PostTags) > MaxTags {
					t.Fatalf("limits exceeded: cost %d, %d tracks, %d+%d tags", cost, len(fr.Tracks), len(fr.PreTags), len(fr.PostTags))
				}
			}
			if r.Offset() > int64(len(data)) {
				t.Fatalf("offset %d beyond the input", r.Offset())
			}
		}
	})
}

// mkvFuzzInput hands out bytes of the fuzzer's input, then zeros.
type mkvFuzzInput []byte

func (in *mkvFuzzInput) byte() byte {
	if len(*in) == 0 {
		return 0
	}
	b := (*in)[0]
	*in = (*in)[1:]
	return b
}

func (in *mkvFuzzInput) uint(n int) uint64 {
	var v uint64
	for range n {
		v = v<<8 | uint64(in.byte())
	}
	return v
}

func (in *mkvFuzzInput) bytes(n int) []byte {
	n = min(n, len(*in))
	b := (*in)[:n:n]
	*in = (*in)[n:]
	return b
}

// FuzzMKVRoundTrip: fuzzer-chosen fragments either fail validation with
// ErrInvalidFragment or read back equal.
func FuzzMKVRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add(mkvFuzzRoundTripSeed)
	f.Add(bytes.Repeat([]byte{0x7f, 0x80, 0x01, 0xff, 0x03}, 40))
	f.Fuzz(func(t *testing.T, data []byte) { mkvFuzzRoundTrip(t, data) })
}

// mkvFuzzRoundTripSeed decodes (see mkvFuzzRoundTrip) into one valid fragment:
// two tracks, timecode 0x018B9C3A71 ms, three frames and one pre tag.
var mkvFuzzRoundTripSeed = []byte("\x00\x01\x00\x01\x8b\x9c\x3a\x71\x03" +
	"\x81\x00\x10\x03abc" + "\x80\xff\xf0\x02xy" + "\x01\x00\x28\x01z" +
	"\x01\x03KEY\x03val" + "\x00")

func TestMKVRoundTripFuzzSeed(t *testing.T) {
	if n := mkvFuzzRoundTrip(t, mkvFuzzRoundTripSeed); n != 1 {
		t.Fatalf("seed round-trips %d fragments, want 1", n)
	}
}

// mkvFuzzRoundTrip builds fragments from data, writes them and reads them back.
// It returns how many fragments passed validation and compared equal.
func mkvFuzzRoundTrip(t *testing.T, data []byte) int {
	templates := mkvTestTracks()
	in := mkvFuzzInput(data)
	nFrags := 1 + int(in.byte()%3)
	var frags []*Fragment
	for range nFrags {
		fr := &Fragment{}
		flags := in.byte()
		nTracks := 1 + int(flags%3)
		for i := range nTracks {
			tr := templates[i]
			if flags&0x80 != 0 {
				tr.Number = uint64(in.byte()) // may be 0 or a duplicate
			}
			if flags&0x40 != 0 {
				tr.Name = string(in.bytes(int(in.byte() % 8))) // may hold a NUL
			}
			fr.Tracks = append(fr.Tracks, tr)
		}
		fr.Timecode = time.Duration(in.uint(6)) * time.Millisecond // up to ~8900 years: may exceed the limit
		if flags&0x20 != 0 {
			fr.Timecode += time.Duration(in.uint(3)) // sub-millisecond part, rounded by the writer
		}
		nFrames := int(in.byte() % 12)
		for range nFrames {
			b := in.byte()
			fm := Frame{
				Track: fr.Tracks[int(b)%nTracks].Number,
				Time:  time.Duration(int16(in.uint(2))) * time.Millisecond,
				Key:   b&0x80 != 0,
				Data:  in.bytes(int(in.byte() % 40)),
			}
			if b&0x40 != 0 {
				fm.Track = uint64(b & 0x07) // 0 or unknown
			}
			if b&0x20 != 0 && b&0x10 != 0 {
				fm.Time += 32768 * time.Millisecond // out of int16 range unless negative
			}
			fr.Frames = append(fr.Frames, fm)
		}
		for _, tags := range []*[]Tag{&fr.PreTags, &fr.PostTags} {
			for range int(in.byte() % 4) {
				name := string(in.bytes(int(in.byte() % 10)))
				*tags = append(*tags, Tag{Name: name, Value: string(in.bytes(int(in.byte() % 10)))})
			}
		}
		if flags&0x08 != 0 {
			fr.Title = string(in.bytes(int(in.byte() % 10)))
		}
		frags = append(frags, fr)
	}

	var buf bytes.Buffer
	var want []*Fragment
	for _, fr := range frags {
		n := buf.Len()
		if err := WriteFragment(&buf, fr); err != nil {
			if !errors.Is(err, ErrInvalidFragment) {
				t.Fatalf("write error %v is not ErrInvalidFragment", err)
			}
			if buf.Len() != n {
				t.Fatal("bytes written before a validation error")
			}
			continue
		}
		// Expected read-back: times rounded to ms on the absolute time.
		w := *fr
		w.Timecode = time.Duration(mkvMillis(fr.Timecode)) * time.Millisecond
		w.Frames = append([]Frame(nil), fr.Frames...)
		for i := range w.Frames {
			w.Frames[i].Time = time.Duration(mkvMillis(fr.Timecode+fr.Frames[i].Time))*time.Millisecond - w.Timecode
			if abs := w.Frames[i].Time; abs < math.MinInt16*time.Millisecond || abs > math.MaxInt16*time.Millisecond {
				t.Fatalf("writer accepted relative time %v", abs)
			}
		}
		want = append(want, &w)
	}
	got, err := mkvReadAll(t, NewReader(&buf))
	if err != io.EOF {
		t.Fatalf("read back: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d fragments, wrote %d", len(got), len(want))
	}
	for i := range want {
		if !mkvEqual(want[i], got[i]) {
			mkvDiff(t, want[i], got[i])
		}
	}
	return len(want)
}
