package putmedia

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/hevc"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestMKVTrack: each codec KVS takes becomes the Matroska track KVS's
// producers write, from the track's Config or, without one, from the
// keyframe's parameter sets; the header of an upload with it is valid.
func TestMKVTrack(t *testing.T) {
	idr := []byte{0x65, 0x88}
	irap := []byte{0x26, 0x01}
	for _, tc := range []struct {
		name     string
		track    media.Track
		key      [][]byte
		codecID  string
		rate     float64
		channels int
	}{
		{"H.264", media.Track{Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: [][]byte{mediatest.H264SPS, mediatest.H264PPS}}, nil, mkv.CodecH264, 0, 0},
		{"H.264 in-band", media.Track{Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000}, [][]byte{mediatest.H264SPS, mediatest.H264PPS, idr}, mkv.CodecH264, 0, 0},
		{"H.265", media.Track{Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000, Config: [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS}}, nil, mkv.CodecH265, 0, 0},
		{"H.265 in-band", media.Track{Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000}, [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS, irap}, mkv.CodecH265, 0, 0},
		{"AAC", media.Track{Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 44100, Config: [][]byte{{0x12, 0x10}}}, nil, mkv.CodecAAC, 44100, 2},
		{"Opus", media.Track{Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000, Config: [][]byte{{1}}}, nil, mkv.CodecOpus, 48000, 1},
		{"G.711 mu-law", media.Track{Kind: media.Audio, Codec: media.CodecG711U, ClockRate: 8000}, nil, mkv.CodecACM, 8000, 1},
		{"G.711 A-law stereo", media.Track{Kind: media.Audio, Codec: media.CodecG711A, ClockRate: 8000, Config: [][]byte{{2}}}, nil, mkv.CodecACM, 8000, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt, err := mkvTrack(tc.track, 1, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if mt.CodecID != tc.codecID || mt.SampleRate != tc.rate || mt.Channels != tc.channels {
				t.Fatalf("track %s %v Hz %d channels, want %s %v Hz %d", mt.CodecID, mt.SampleRate, mt.Channels, tc.codecID, tc.rate, tc.channels)
			}
			switch mt.CodecID {
			case mkv.CodecH264:
				rec, err := avc.DecodeAVCDecConfRec(mt.CodecPrivate)
				if err != nil || !bytes.Equal(rec.SPSnalus[0], mediatest.H264SPS) || !bytes.Equal(rec.PPSnalus[0], mediatest.H264PPS) {
					t.Errorf("avcC: %v", err)
				}
			case mkv.CodecH265:
				rec, err := hevc.DecodeHEVCDecConfRec(mt.CodecPrivate)
				if err != nil || len(rec.GetNalusForType(hevc.NALU_VPS)) != 1 || len(rec.GetNalusForType(hevc.NALU_SPS)) != 1 {
					t.Errorf("hvcC: %v", err)
				}
			case mkv.CodecOpus:
				if !bytes.HasPrefix(mt.CodecPrivate, []byte("OpusHead")) || mt.CodecPrivate[9] != 1 || mt.SeekPreRoll == 0 {
					t.Errorf("OpusHead % x, seek pre-roll %d", mt.CodecPrivate, mt.SeekPreRoll)
				}
			case mkv.CodecACM:
				tag := uint16(mkv.WaveFormatMuLaw)
				if tc.track.Codec == media.CodecG711A {
					tag = mkv.WaveFormatALaw
				}
				cp := mt.CodecPrivate
				if len(cp) != 18 || binary.LittleEndian.Uint16(cp) != tag || int(binary.LittleEndian.Uint16(cp[2:])) != tc.channels ||
					binary.LittleEndian.Uint32(cp[4:]) != 8000 || binary.LittleEndian.Uint16(cp[14:]) != 8 || mt.BitDepth != 8 {
					t.Errorf("WAVEFORMATEX % x", cp)
				}
			}
			if tc.track.Kind == media.Video && (mt.Width <= 0 || mt.Height <= 0 || mt.Type != mkv.Video) {
				t.Errorf("video %dx%d type %d", mt.Width, mt.Height, mt.Type)
			}
			if _, err := mkv.AppendStreamHeader(nil, "", []mkv.Track{mt}); err != nil {
				t.Errorf("upload header: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name  string
		track media.Track
	}{
		{"H.264 without parameter sets", media.Track{Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000}},
		{"AAC without config", media.Track{Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 44100}},
		{"VP8", media.Track{Kind: media.Video, Codec: media.CodecVP8, ClockRate: 90000}},
	} {
		if _, err := mkvTrack(tc.track, 1, [][]byte{idr}); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestBlockData(t *testing.T) {
	got := blockData(true, [][]byte{{1, 2}, {3}})
	if want := []byte{0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3}; !bytes.Equal(got, want) {
		t.Errorf("video: % x, want % x", got, want)
	}
	if got := blockData(false, [][]byte{{9, 8}}); !bytes.Equal(got, []byte{9, 8}) {
		t.Errorf("audio: % x", got)
	}
}
