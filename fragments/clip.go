package fragments

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/eddy-video/eddy/fragments/mkv"
)

// Clip limits (KVS GetClip: the first 100 MB or 200 fragments from Start).
const (
	MaxClipFragments = 200
	MaxClipBytes     = 100 << 20
)

// Clip is a progressive MP4 built from stored fragments.
type Clip struct {
	Bytes     []byte
	Fragments int
	Start     time.Time // producer or server time of the first fragment, as selected
	Duration  time.Duration
}

// BuildClip writes a non-fragmented MP4 (ftyp, moov, mdat) of the given
// fragments, in order, without re-encoding: the stored CMAF samples are
// moved into one presentation. It starts at the first fragment that
// begins on a keyframe and stops at the limits or where the codec
// configuration changes (a clip has one sample description per track).
func (st *Store) BuildClip(entries []IndexEntry) (*Clip, error) {
	var (
		init    *parsedInit
		tracks  = map[int]*pmp4.Track{}
		order   []int
		firstS  = map[int]float64{} // each track's first sample time, seconds
		size    int64
		n       int
		dur     int64
		startNS int64
		vp8     bool
	)
	for _, e := range entries {
		if n == MaxClipFragments || (n > 0 && size+e.Size > MaxClipBytes) {
			break
		}
		f, err := st.Read(e.Seq)
		if err != nil {
			if n > 0 {
				break // trimmed under us: keep what we have
			}
			return nil, err
		}
		if n == 0 && !f.Keyframe {
			continue
		}
		if init == nil {
			b, err := st.Init(f.InitID)
			if err != nil {
				return nil, err
			}
			if init, err = parseInit(f.InitID, b); err != nil {
				return nil, errf(KindInvalidCodecPrivate, "%v", err)
			}
			for _, it := range init.tracks {
				codec := it.Codec
				if c, ok := codec.(*codecVP8); ok {
					codec, vp8 = &c.CodecVP9, true // written as vp09, renamed below
				}
				tracks[it.ID] = &pmp4.Track{ID: it.ID, TimeScale: it.TimeScale, Codec: codec}
				order = append(order, it.ID)
			}
			startNS = e.ProducerTime
		} else if f.InitID != init.id {
			break
		}
		d, err := demux(f)
		if err != nil {
			return nil, errf(KindInvalidMedia, "%v", err)
		}
		for _, p := range d.parts {
			for _, pt := range p.Tracks {
				t := tracks[pt.ID]
				if t == nil {
					continue
				}
				if _, ok := firstS[pt.ID]; !ok && len(pt.Samples) > 0 {
					firstS[pt.ID] = float64(pt.BaseTime) / float64(t.TimeScale)
				}
				for _, s := range pt.Samples {
					payload := s.Payload
					t.Samples = append(t.Samples, &pmp4.Sample{
						Duration: s.Duration, PTSOffset: s.PTSOffset, IsNonSyncSample: s.IsNonSyncSample,
						PayloadSize: uint32(len(payload)),
						GetPayload:  func() ([]byte, error) { return payload, nil },
					})
				}
			}
		}
		size += e.Size
		dur += e.Duration
		n++
	}
	if n == 0 {
		return nil, errf(KindNotFound, "No fragments found in the stream for the clip request.")
	}
	// Align the tracks: the earliest starts at 0, later ones are delayed
	// by an edit list.
	origin := math.Inf(1)
	for _, s := range firstS {
		origin = min(origin, s)
	}
	var pres pmp4.Presentation
	for _, id := range order {
		t := tracks[id]
		if len(t.Samples) == 0 {
			continue
		}
		t.TimeOffset = int32((firstS[id] - origin) * float64(t.TimeScale))
		pres.Tracks = append(pres.Tracks, t)
	}
	var buf bytes.Buffer
	buf.Grow(int(size) + 64<<10)
	if err := pres.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	if vp8 {
		renameSampleEntries(buf.Bytes(), "vp09", "vp08")
	}
	return &Clip{Bytes: buf.Bytes(), Fragments: n, Start: time.Unix(0, startNS), Duration: time.Duration(dur)}, nil
}

// WriteMKV writes the fragments as concatenated MKV documents, one per
// fragment, each with the KVS tags AWS_KINESISVIDEO_FRAGMENT_NUMBER,
// AWS_KINESISVIDEO_SERVER_TIMESTAMP and AWS_KINESISVIDEO_PRODUCER_TIMESTAMP
// (decimal seconds with milliseconds) before its cluster, as
// GetMediaForFragmentList answers. The cluster timecode is the producer
// timestamp in milliseconds.
func (st *Store) WriteMKV(w io.Writer, seqs []uint64) error {
	var (
		init   *parsedInit
		tracks []mkv.Track
	)
	for _, seq := range seqs {
		f, err := st.Read(seq)
		if err != nil {
			return err
		}
		if init == nil || init.id != f.InitID {
			b, err := st.Init(f.InitID)
			if err != nil {
				return err
			}
			if init, err = parseInit(f.InitID, b); err != nil {
				return errf(KindInvalidCodecPrivate, "%v", err)
			}
			tracks = tracks[:0]
			for _, it := range init.tracks {
				mt, err := mkvCodec(it)
				if err != nil {
					return err
				}
				tracks = append(tracks, mt)
			}
		}
		d, err := demux(f)
		if err != nil {
			return errf(KindInvalidMedia, "%v", err)
		}
		start, _ := d.startTime(init)
		mf := &mkv.Fragment{
			Tracks:   tracks,
			Timecode: time.Duration(f.ProducerTime/1e6) * time.Millisecond,
			PreTags: []mkv.Tag{
				{Name: "AWS_KINESISVIDEO_FRAGMENT_NUMBER", Value: FragmentNumber(f.Seq)},
				{Name: "AWS_KINESISVIDEO_SERVER_TIMESTAMP", Value: kvsSeconds(f.ServerTime)},
				{Name: "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", Value: kvsSeconds(f.ProducerTime)},
			},
		}
		for _, p := range d.parts {
			for _, pt := range p.Tracks {
				it := init.track(pt.ID)
				if it == nil {
					continue
				}
				t := int64(pt.BaseTime)
				for _, s := range pt.Samples {
					pts := float64(t+int64(s.PTSOffset))/float64(it.TimeScale) - start
					mf.Frames = append(mf.Frames, mkv.Frame{
						Track: uint64(pt.ID),
						Time:  time.Duration(math.Round(pts*1000)) * time.Millisecond,
						Key:   !s.IsNonSyncSample,
						Data:  s.Payload,
					})
					t += int64(s.Duration)
				}
			}
		}
		sortFramesByTime(mf.Frames)
		if err := mkv.WriteFragment(w, mf); err != nil {
			return err
		}
	}
	return nil
}

// sortFramesByTime orders frames of all tracks by time (stable, so each
// track keeps its decode order), as Matroska clusters interleave blocks.
func sortFramesByTime(fs []mkv.Frame) {
	// Insertion sort: the tracks are each nearly in order already.
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Track != fs[j-1].Track && fs[j].Time < fs[j-1].Time; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// kvsSeconds formats Unix ns as KVS's decimal seconds with milliseconds.
func kvsSeconds(ns int64) string {
	ms := ns / 1e6
	return strconv.FormatInt(ms/1000, 10) + "." + fmt.Sprintf("%03d", ms%1000)
}
