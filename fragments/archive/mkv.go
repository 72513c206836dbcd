package archive

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// WriteMKV writes the fragments as concatenated MKV documents, one per
// fragment, as GetMediaForFragmentList answers (see MKVWriter.Write).
func WriteMKV(st *fragments.Store, w io.Writer, seqs []uint64) error {
	mw := NewMKVWriter(st)
	for _, seq := range seqs {
		if err := mw.Write(w, seq, nil); err != nil {
			return err
		}
	}
	return nil
}

// MKVWriter writes fragments of one store as self-contained MKV documents
// (GetMediaForFragmentList, GetMedia), keeping the tracks of the last
// init segment it read for the fragments that share it.
type MKVWriter struct {
	st     *fragments.Store
	init   *cmaf.Init
	initID fragments.InitID
	tracks []mkv.Track
}

// NewMKVWriter returns a writer of st's fragments.
func NewMKVWriter(st *fragments.Store) *MKVWriter { return &MKVWriter{st: st} }

// Tracks returns the tracks of the last fragment written (none before the
// first), for a document of error tags after it (mkv.WriteTagsDocument).
func (m *MKVWriter) Tracks() []mkv.Track { return m.tracks }

// Write writes fragment seq as one MKV document with the KVS tags
// AWS_KINESISVIDEO_FRAGMENT_NUMBER, AWS_KINESISVIDEO_SERVER_TIMESTAMP and
// AWS_KINESISVIDEO_PRODUCER_TIMESTAMP (decimal seconds with milliseconds)
// before its cluster, then the fragment's metadata (MetadataTags: the
// producer's tags of its upload, as it sent them), then one mkv.TagEvent
// tag per other event of the stream's timeline that overlaps the
// fragment's producer time span (see MaxMKVEvents), all read in one walk
// through the timeline; post are the tags after the
// cluster (GetMedia's). The cluster timecode is the producer timestamp in
// milliseconds. Nothing is written when an error is returned before the
// document (a fragment not found, unreadable media).
func (m *MKVWriter) Write(w io.Writer, seq uint64, post []mkv.Tag) error {
	f, err := m.st.Read(seq)
	if err != nil {
		return err
	}
	if m.init == nil || m.initID != f.InitID {
		b, err := m.st.Init(f.InitID)
		if err != nil {
			return err
		}
		init, err := cmaf.ParseInit(b)
		if err != nil {
			return fragments.Errorf(fragments.KindInvalidCodecPrivate, "init segment %s: %v", f.InitID, err)
		}
		tracks := make([]mkv.Track, 0, len(init.Tracks))
		for _, it := range init.Tracks {
			mt, err := mkvCodec(it)
			if err != nil {
				return err
			}
			tracks = append(tracks, mt)
		}
		m.init, m.initID, m.tracks = init, f.InitID, tracks
	}
	init := m.init
	parts, err := cmaf.Demux(f.Media)
	if err != nil {
		return fragments.Errorf(fragments.KindInvalidMedia, "fragment %s: %v", fragments.FragmentNumber(f.Seq), err)
	}
	start, _ := cmaf.StartTime(parts, init)
	mf := &mkv.Fragment{
		Tracks:   m.tracks,
		Timecode: time.Duration(f.ProducerTime/1e6) * time.Millisecond,
		PreTags: []mkv.Tag{
			{Name: mkv.TagFragmentNumber, Value: fragments.FragmentNumber(f.Seq)},
			{Name: mkv.TagServerTimestamp, Value: kvsSeconds(f.ServerTime)},
			{Name: mkv.TagProducerTimestamp, Value: kvsSeconds(f.ProducerTime)},
		},
		PostTags: post,
	}
	for _, p := range parts {
		for _, pt := range p.Tracks {
			it := init.Track(pt.ID)
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
	// One walk through the timeline: the fragment's metadata, then its
	// events.
	meta, evTags, err := fragmentTags(m.st.Timeline(), f.Seq, f.ProducerTime, f.ProducerTime+max(f.Duration, 1), true)
	if err != nil {
		return err
	}
	mf.PreTags = append(mf.PreTags, meta...)
	mf.PreTags = append(mf.PreTags, evTags...)
	return mkv.WriteFragment(w, mf)
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

// mkvCodec describes a track for Matroska: codec ID and CodecPrivate
// (ISO/IEC 14496-15 records for H.264/H.265, the VP9 feature list, av1C,
// AudioSpecificConfig, OpusHead; none for VP8).
func mkvCodec(t *fmp4.InitTrack) (mkv.Track, error) {
	mt := mkv.Track{Number: uint64(t.ID), UID: uint64(t.ID)}
	switch c := t.Codec.(type) {
	case *mp4.CodecH264:
		if err := mkv.H264Track(&mt, [][]byte{c.SPS}, [][]byte{c.PPS}); err != nil {
			return mt, fragments.Errorf(fragments.KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
	case *mp4.CodecH265:
		if err := mkv.H265Track(&mt, [][]byte{c.VPS}, [][]byte{c.SPS}, [][]byte{c.PPS}); err != nil {
			return mt, fragments.Errorf(fragments.KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
	case *cmaf.CodecVP8:
		mt.Type, mt.CodecID = mkv.Video, mkv.CodecVP8
		mt.Width, mt.Height = c.Width, c.Height
	case *mp4.CodecVP9:
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, mkv.CodecVP9, vp9CodecPrivate(c)
		mt.Width, mt.Height = c.Width, c.Height
	case *mp4.CodecAV1:
		sh, err := cmaf.AV1Info(c)
		if err != nil {
			return mt, fragments.Errorf(fragments.KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		rec, err := cmaf.AV1Config(c, sh)
		if err != nil {
			return mt, fragments.Errorf(fragments.KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Video, mkv.CodecAV1, rec
		mt.Width, mt.Height = sh.Width(), sh.Height()
	case *mp4.CodecMPEG4Audio:
		asc, err := c.Config.Marshal()
		if err != nil {
			return mt, fragments.Errorf(fragments.KindInvalidCodecPrivate, "The codec private data of track %d is invalid: %v.", t.ID, err)
		}
		mt.Type, mt.CodecID, mt.CodecPrivate = mkv.Audio, mkv.CodecAAC, asc
		mt.SampleRate, mt.Channels = float64(c.Config.SampleRate), c.Config.ChannelCount
	case *mp4.CodecOpus:
		// The stored track keeps no OpusHead: Matroska's A_OPUS gets one
		// of its channel count, with libopus's usual pre-skip of 312
		// samples (6.5 ms), as this output always declared.
		head := rtpcodec.OpusHead(c.ChannelCount)
		binary.LittleEndian.PutUint16(head[10:], 312)
		if err := mkv.OpusTrack(&mt, head); err != nil {
			return mt, err
		}
	case *mp4.CodecLPCM:
		mt.Type, mt.CodecID = mkv.Audio, mkv.CodecPCMBig
		if c.LittleEndian {
			mt.CodecID = mkv.CodecPCMLittle
		}
		mt.SampleRate, mt.Channels, mt.BitDepth = float64(c.SampleRate), c.ChannelCount, c.BitDepth
	default:
		return mt, fragments.Errorf(fragments.KindUnsupportedMedia, "Track %d has a codec Matroska output does not support.", t.ID)
	}
	return mt, nil
}

// vp9CodecPrivate is the Matroska VP9 CodecPrivate: the codec feature
// list (ID, length 1, value) with profile (1), bit depth (3) and chroma
// subsampling (4).
func vp9CodecPrivate(c *mp4.CodecVP9) []byte {
	return []byte{1, 1, c.Profile, 3, 1, c.BitDepth, 4, 1, c.ChromaSubsampling}
}
