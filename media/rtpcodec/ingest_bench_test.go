package rtpcodec

import (
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// benchSecond returns one second of a 2 Mbit/s 720p25 camera as RTP
// packets, marshalled: H.264 (a 60 KB IDR with SPS/PPS, then 24 P
// frames of ~7.9 KB, so FU-A mostly) and AAC (47 frames of 170 bytes,
// two per packet); track 0 is video, 1 audio.
func benchSecond(b testing.TB) (medias []*description.Media, pkts [][]byte, track []int) {
	b.Helper()
	v, err := NewEncoder(media.Track{Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000,
		Config: [][]byte{mediatest.H264SPS, mediatest.H264PPS}}, 96)
	if err != nil {
		b.Fatal(err)
	}
	a, err := NewEncoder(media.Track{ID: 1, Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 48000,
		Config: [][]byte{mediatest.Must(mediatest.ASC.Marshal())}}, 97)
	if err != nil {
		b.Fatal(err)
	}
	add := func(e *Encoder, tr int, au *media.AccessUnit) {
		ps, err := e.Packets(au)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range ps {
			buf, err := p.Marshal()
			if err != nil {
				b.Fatal(err)
			}
			pkts, track = append(pkts, buf), append(track, tr)
		}
	}
	audio := 0
	for i := range 25 {
		payload := [][]byte{mediatest.Numbered([]byte{0x41, 0x9a}, i, 7900)}
		if i == 0 {
			payload = [][]byte{mediatest.H264SPS, mediatest.H264PPS, mediatest.Numbered([]byte{0x65, 0x88}, i, 60000)}
		}
		add(v, 0, &media.AccessUnit{PTS: int64(i) * 3600, DTS: int64(i) * 3600, Key: i == 0, Payload: payload})
		for ; audio*1024*90000/48000 <= i*3600; audio += 2 {
			add(a, 1, &media.AccessUnit{Track: 1, PTS: int64(audio) * 1024, DTS: int64(audio) * 1024, Key: true,
				Payload: [][]byte{mediatest.Numbered([]byte{0x21}, audio, 170), mediatest.Numbered([]byte{0x21}, audio+1, 170)}})
		}
	}
	return []*description.Media{v.Media, a.Media}, pkts, track
}

// BenchmarkIngestH264 decodes one second of video and audio per op
// (B/op and allocs/op are per second of one camera) and publishes the
// units on a hub that a reader drains. Each packet's payload is a fresh
// buffer, as gortsplib hands them over; its allocation is outside the
// timed part.
func BenchmarkIngestH264(b *testing.B) {
	medias, pkts, track := benchSecond(b)
	g, err := NewRTPIngest(medias, mediatest.Logger())
	if err != nil {
		b.Fatal(err)
	}
	h := &media.Hub{Tracks: g.Tracks()}
	g.Start(h)
	r, err := h.NewReader()
	if err != nil {
		b.Fatal(err)
	}
	fresh := make([]*rtp.Packet, len(pkts))
	perTrack := [2]uint16{}
	for _, tr := range track {
		perTrack[tr]++
	}
	clock := [2]uint32{90000, 48000}
	units := 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := range b.N {
		b.StopTimer()
		for i, p := range pkts {
			fresh[i] = &rtp.Packet{}
			if err := fresh[i].Unmarshal(append([]byte(nil), p...)); err != nil {
				b.Fatal(err)
			}
			// Second n of the stream.
			fresh[i].Timestamp += uint32(n) * clock[track[i]]
			fresh[i].SequenceNumber += uint16(n) * perTrack[track[i]]
		}
		b.StartTimer()
		for i, p := range fresh {
			g.WriteRTP(track[i], p)
		}
		for {
			au, err := r.Read(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			units++
			if au.Track == 0 && au.DTS >= int64(n)*90000+24*3600 {
				break
			}
		}
	}
	b.ReportMetric(float64(units)/float64(b.N), "units/op")
}
