package archive

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
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
	Events    int // events carried as emsg boxes (see EmsgScheme)
}

// ClipRange builds the clip of the fragments whose kind time lies in
// [start, end] (both inclusive), up to the clip limits: GetClip's
// selection, in which fragments that start before start are left out. A
// range without fragments is a KindNotFound error.
func ClipRange(st *fragments.Store, kind fragments.IndexTime, start, end time.Time) (*Clip, error) {
	var entries []fragments.IndexEntry
	from := uint64(0)
	for len(entries) < MaxClipFragments {
		page, next, err := st.List(kind, start, end, from, MaxClipFragments-len(entries))
		if err != nil {
			return nil, err
		}
		entries = append(entries, page...)
		if next == 0 {
			break
		}
		from = next
	}
	if len(entries) == 0 {
		return nil, fragments.Errorf(fragments.KindNotFound, "No fragments found in the stream for the clip request.")
	}
	return BuildClip(st, entries)
}

// BuildClip writes a non-fragmented MP4 (ftyp, moov, mdat) of the given
// fragments, in order, without re-encoding: the stored CMAF samples are
// moved into one presentation. It starts at the first fragment that
// begins on a keyframe and stops at the limits or where the codec
// configuration changes (a clip has one sample description per track).
// The events of the stream's timeline that overlap the clip's fragments
// are emsg boxes after the mdat (see EmsgScheme).
func BuildClip(st *fragments.Store, entries []fragments.IndexEntry) (*Clip, error) {
	var (
		init    *cmaf.Init
		initID  fragments.InitID
		tracks  = map[int]*pmp4.Track{}
		order   []int
		firstS  = map[int]float64{} // each track's first sample time, seconds
		size    int64
		n       int
		dur     int64
		startNS int64
		vp8     bool
		spans   []clipSpan
		video   uint32 // the video track's timescale (else the first track's)
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
			if init, err = cmaf.ParseInit(b); err != nil {
				return nil, fragments.Errorf(fragments.KindInvalidCodecPrivate, "init segment %s: %v", f.InitID, err)
			}
			initID = f.InitID
			for _, it := range init.Tracks {
				codec := it.Codec
				if c, ok := codec.(*cmaf.CodecVP8); ok {
					codec, vp8 = &c.CodecVP9, true // written as vp09, renamed below
				}
				tracks[it.ID] = &pmp4.Track{ID: it.ID, TimeScale: it.TimeScale, Codec: codec}
				order = append(order, it.ID)
				if video == 0 || (it.Codec.IsVideo() && !tracks[order[0]].Codec.IsVideo()) {
					video = it.TimeScale
				}
			}
			startNS = e.ProducerTime
		} else if f.InitID != initID {
			break
		}
		parts, err := cmaf.Demux(f.Media)
		if err != nil {
			return nil, fragments.Errorf(fragments.KindInvalidMedia, "fragment %s: %v", fragments.FragmentNumber(f.Seq), err)
		}
		if s, ok := cmaf.StartTime(parts, init); ok {
			spans = append(spans, clipSpan{producer: f.ProducerTime, duration: f.Duration, start: s})
		}
		for _, p := range parts {
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
		return nil, fragments.Errorf(fragments.KindNotFound, "No fragments found in the stream for the clip request.")
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
		cmaf.RenameSampleEntries(buf.Bytes(), "vp09", "vp08")
	}
	cmaf.H265SampleEntriesToHVC1(buf.Bytes()) // the MP4 writer says hev1
	nev := 0
	if len(spans) > 0 {
		last := spans[len(spans)-1]
		emsg, n, err := clipEmsg(st.Timeline(), spans[0].producer, last.producer+max(last.duration, 1), spansPresent(spans, origin), video)
		if err != nil {
			return nil, err
		}
		buf.Write(emsg)
		nev = n
	}
	return &Clip{Bytes: buf.Bytes(), Fragments: n, Start: time.Unix(0, startNS), Duration: time.Duration(dur), Events: nev}, nil
}
