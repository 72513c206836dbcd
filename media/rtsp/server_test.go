package rtsp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

func startRTSPServer(t *testing.T, reg *media.Registry, udp bool) *Server {
	t.Helper()
	s := &Server{Address: "127.0.0.1:0", Registry: reg, Logger: mediatest.Logger()}
	if udp {
		s.UDPRTPAddress, s.UDPRTCPAddress = "127.0.0.1:0", "127.0.0.1:0"
	}
	if err := s.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// hubTap hands the test a reader of every publication, attached before
// the publisher can send anything.
type hubTap struct {
	mu sync.Mutex
	ch map[string]chan *media.Reader
}

func newHubTap(reg *media.Registry) *hubTap {
	tap := &hubTap{ch: map[string]chan *media.Reader{}}
	reg.OnPublish = func(name string, h *media.Hub) {
		if r, err := h.NewReader(); err == nil {
			tap.chanFor(name) <- r
		}
	}
	return tap
}

func (tap *hubTap) chanFor(name string) chan *media.Reader {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.ch[name] == nil {
		tap.ch[name] = make(chan *media.Reader, 16)
	}
	return tap.ch[name]
}

func (tap *hubTap) next(t *testing.T, name string) *media.Reader {
	t.Helper()
	select {
	case r := <-tap.chanFor(name):
		t.Cleanup(r.Close)
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no publication of %q", name)
		return nil
	}
}

// collect reads units of r by track until done says so.
func collect(t *testing.T, r *media.Reader, done func(map[int][]*media.AccessUnit) bool) map[int][]*media.AccessUnit {
	t.Helper()
	got := map[int][]*media.AccessUnit{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !done(got) {
		au, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("read after %d video, %d audio units: %v", len(got[0]), len(got[1]), err)
		}
		got[au.Track] = append(got[au.Track], au)
	}
	return got
}

// pubTrack is one track of a test publisher.
type pubTrack struct {
	media  *description.Media
	clock  int
	encode func(au [][]byte) ([]*rtp.Packet, error)
	base   uint32
	writes int
}

func h264PubTrack() *pubTrack {
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: mediatest.H264SPS, PPS: mediatest.H264PPS}
	enc := mediatest.Must(f.CreateEncoder())
	return &pubTrack{media: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}},
		clock: 90000, encode: enc.Encode, base: 0xfffff000}
}

func h265PubTrack() *pubTrack {
	f := &format.H265{PayloadTyp: 96, VPS: mediatest.H265VPS, SPS: mediatest.H265SPS, PPS: mediatest.H265PPS}
	enc := mediatest.Must(f.CreateEncoder())
	return &pubTrack{media: &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}},
		clock: 90000, encode: enc.Encode, base: 77}
}

func aacPubTrack() *pubTrack {
	asc := mediatest.ASC
	f := &format.MPEG4Audio{PayloadTyp: 97, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	enc := mediatest.Must(f.CreateEncoder())
	return &pubTrack{media: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}},
		clock: 48000, encode: enc.Encode, base: 1 << 31}
}

func opusPubTrack() *pubTrack {
	f := &format.Opus{PayloadTyp: 98, ChannelCount: 2}
	enc := mediatest.Must(f.CreateEncoder())
	return &pubTrack{media: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}},
		clock: 48000, encode: func(au [][]byte) ([]*rtp.Packet, error) {
			p, err := enc.Encode(au[0])
			return []*rtp.Packet{p}, err
		}}
}

func g711PubTrack(mulaw bool) *pubTrack {
	f := &format.G711{PayloadTyp: 8, MULaw: mulaw, SampleRate: 8000, ChannelCount: 1}
	if mulaw {
		f.PayloadTyp = 0
	}
	enc := mediatest.Must(f.CreateEncoder())
	return &pubTrack{media: &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}},
		clock: 8000, encode: func(au [][]byte) ([]*rtp.Packet, error) { return enc.Encode(au[0]) }}
}

// testPublisher publishes synthetic media with gortsplib's client, with
// RTCP sender reports (RFC 3550 encoding) mapping RTP time to known NTP.
type testPublisher struct {
	c      *gortsplib.Client
	tracks []*pubTrack
}

func startPublisher(t *testing.T, addr, name string, transport gortsplib.Transport, tracks ...*pubTrack) (*testPublisher, error) {
	t.Helper()
	return publishURL(t, "rtsp://"+addr+"/"+name, nil, transport, tracks...)
}

// publishURL starts a publisher of tracks to an rtsp:// or rtsps:// URL.
func publishURL(t *testing.T, u string, tlsConfig *tls.Config, transport gortsplib.Transport, tracks ...*pubTrack) (*testPublisher, error) {
	t.Helper()
	desc := &description.Session{}
	for _, tr := range tracks {
		desc.Medias = append(desc.Medias, tr.media)
	}
	c := &gortsplib.Client{Transport: &transport, DisableRTCPSenderReports: true, WriteQueueSize: 4096, TLSConfig: tlsConfig}
	if err := c.StartRecording(u, desc); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	return &testPublisher{c: c, tracks: tracks}, nil
}

// write sends au at pts (track clock) captured at ntp; every 10th write
// of a track also sends a sender report.
func (p *testPublisher) write(tr *pubTrack, pts int64, ntp time.Time, au [][]byte) error {
	pkts, err := tr.encode(au)
	if err != nil {
		return err
	}
	ts := tr.base + uint32(pts)
	for _, pkt := range pkts {
		pkt.Timestamp += ts
		if err := p.c.WritePacketRTPWithNTP(tr.media, pkt, ntp); err != nil {
			return err
		}
	}
	if tr.writes%10 == 0 {
		sr := &rtcp.SenderReport{SSRC: pkts[0].SSRC, NTPTime: rtpcodec.NTPToRTCP(ntp), RTPTime: ts}
		if err := p.c.WritePacketRTCP(tr.media, sr); err != nil {
			return err
		}
	}
	tr.writes++
	return nil
}

// writeRaw sends a hand-made packet on tr's media.
func (p *testPublisher) writeRaw(tr *pubTrack, pkt *rtp.Packet) error {
	return p.c.WritePacketRTP(tr.media, pkt)
}

func videoNTP(i int) time.Time { return mediatest.NTP0.Add(time.Duration(i) * 40 * time.Millisecond) }
func audioNTP(j int) time.Time {
	return mediatest.NTP0.Add(time.Duration(j) * 1024 * time.Second / 48000)
}

// sendAV sends video frames [from, to) with the AAC frames (two per
// packet) that fall before each; it returns the next audio frame.
func sendAV(p *testPublisher, v, a *pubTrack, from, to, audio int, pace time.Duration) (int, error) {
	for i := from; i < to; i++ {
		if err := p.write(v, int64(i)*mediatest.VideoTicks, videoNTP(i), mediatest.H264AU(i)); err != nil {
			return audio, err
		}
		for a != nil && int64(audio)*1024*90000/48000 <= int64(i)*mediatest.VideoTicks {
			frames := [][]byte{mediatest.AudioFrame(audio), mediatest.AudioFrame(audio + 1)}
			if err := p.write(a, int64(audio)*1024, audioNTP(audio), frames); err != nil {
				return audio, err
			}
			audio += 2
		}
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	return audio, nil
}

func statusCode(err error) base.StatusCode {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return bad.Code
	}
	return 0
}

func TestRTSPPublishH264AAC(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport gortsplib.Transport
	}{
		{"tcp", gortsplib.TransportTCP},
		{"udp", gortsplib.TransportUDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := &media.Registry{Logger: mediatest.Logger()}
			tap := newHubTap(reg)
			srv := startRTSPServer(t, reg, true)

			v, a := h264PubTrack(), aacPubTrack()
			pub, err := startPublisher(t, srv.Addr(), "cam1", tc.transport, v, a)
			if err != nil {
				t.Fatal(err)
			}
			r := tap.next(t, "cam1")
			const frames = 40
			audio, err := sendAV(pub, v, a, 0, frames, 0, time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			got := collect(t, r, func(m map[int][]*media.AccessUnit) bool {
				return len(m[0]) >= frames && len(m[1]) >= audio
			})

			h, ok := reg.Hub("cam1")
			if !ok {
				t.Fatal("no hub")
			}
			wantTracks := []media.Track{
				{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000, Config: [][]byte{mediatest.H264SPS, mediatest.H264PPS}},
				{ID: 1, Kind: media.Audio, Codec: media.CodecAAC, ClockRate: 48000, Config: [][]byte{mediatest.Must(mediatest.ASC.Marshal())}},
			}
			mediatest.CheckTracks(t, h.Tracks, wantTracks)

			checkVideo(t, got[0], frames)
			checkAudio(t, got[1])
		})
	}
}

// checkVideo checks frames 0..n-1 of the synthetic H.264 stream.
func checkVideo(t *testing.T, units []*media.AccessUnit, n int) {
	t.Helper()
	withNTP := 0
	for i, au := range units[:n] {
		if idx := mediatest.VideoIndex(au.Payload); idx != i {
			t.Fatalf("unit %d is frame %d", i, idx)
		}
		if fmt.Sprint(au.Payload) != fmt.Sprint(mediatest.H264AU(i)) {
			t.Fatalf("frame %d payload differs", i)
		}
		if au.Key != (i%mediatest.GOP == 0) {
			t.Errorf("frame %d: Key = %v", i, au.Key)
		}
		if au.PTS-units[0].PTS != int64(i)*mediatest.VideoTicks || au.DTS != au.PTS {
			t.Errorf("frame %d: PTS %d DTS %d (first %d)", i, au.PTS, au.DTS, units[0].PTS)
		}
		if au.Arrival.IsZero() {
			t.Errorf("frame %d: no arrival time", i)
		}
		if !au.NTP.IsZero() {
			withNTP++
			if d := au.NTP.Sub(videoNTP(i)).Abs(); d > 50*time.Millisecond {
				t.Errorf("frame %d: NTP %v, sent %v", i, au.NTP, videoNTP(i))
			}
		}
	}
	if units[n-1].NTP.IsZero() || withNTP < n/2 {
		t.Errorf("only %d of %d frames have an NTP time", withNTP, n)
	}
}

func checkAudio(t *testing.T, units []*media.AccessUnit) {
	t.Helper()
	for j, au := range units {
		if idx := mediatest.NumberOf(au.Payload[0], 1); idx != j || !bytes.Equal(au.Payload[0], mediatest.AudioFrame(j)) {
			t.Fatalf("audio unit %d is frame %d", j, idx)
		}
		if au.PTS-units[0].PTS != int64(j)*1024 || au.DTS != au.PTS || !au.Key {
			t.Errorf("audio frame %d: PTS %d DTS %d Key %v", j, au.PTS, au.DTS, au.Key)
		}
		if !au.NTP.IsZero() {
			if d := au.NTP.Sub(audioNTP(j)).Abs(); d > 50*time.Millisecond {
				t.Errorf("audio frame %d: NTP %v, sent %v", j, au.NTP, audioNTP(j))
			}
		}
	}
	if units[len(units)-1].NTP.IsZero() {
		t.Error("audio: no NTP time")
	}
}

func TestRTSPPublishOtherCodecs(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	tap := newHubTap(reg)
	srv := startRTSPServer(t, reg, false)

	for _, tc := range []struct {
		name  string
		track *pubTrack
		want  media.Track
		unit  func(i int) [][]byte
		pts   func(i int) int64
	}{
		{"h265", h265PubTrack(),
			media.Track{Kind: media.Video, Codec: media.CodecH265, ClockRate: 90000, Config: [][]byte{mediatest.H265VPS, mediatest.H265SPS, mediatest.H265PPS}},
			mediatest.H265AU, func(i int) int64 { return int64(i) * mediatest.VideoTicks }},
		{"opus", opusPubTrack(),
			media.Track{Kind: media.Audio, Codec: media.CodecOpus, ClockRate: 48000, Config: [][]byte{rtpcodec.OpusHead(2)}},
			func(i int) [][]byte { return [][]byte{mediatest.AudioFrame(i)} }, func(i int) int64 { return int64(i) * 960 }},
		{"pcmu", g711PubTrack(true),
			media.Track{Kind: media.Audio, Codec: media.CodecG711U, ClockRate: 8000, Config: [][]byte{{1}}},
			func(i int) [][]byte { return [][]byte{mediatest.AudioFrame(i)} }, func(i int) int64 { return int64(i) * 120 }},
		{"pcma", g711PubTrack(false),
			media.Track{Kind: media.Audio, Codec: media.CodecG711A, ClockRate: 8000, Config: [][]byte{{1}}},
			func(i int) [][]byte { return [][]byte{mediatest.AudioFrame(i)} }, func(i int) int64 { return int64(i) * 120 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := startPublisher(t, srv.Addr(), tc.name, gortsplib.TransportTCP, tc.track)
			if err != nil {
				t.Fatal(err)
			}
			r := tap.next(t, tc.name)
			const n = 25
			for i := range n {
				if err := pub.write(tc.track, tc.pts(i), mediatest.NTP0, tc.unit(i)); err != nil {
					t.Fatal(err)
				}
			}
			got := collect(t, r, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= n })[0]
			h, _ := reg.Hub(tc.name)
			mediatest.CheckTracks(t, h.Tracks, []media.Track{tc.want})
			for i, au := range got {
				if fmt.Sprint(au.Payload) != fmt.Sprint(tc.unit(i)) {
					t.Fatalf("unit %d payload differs", i)
				}
				if au.PTS-got[0].PTS != tc.pts(i)-tc.pts(0) {
					t.Errorf("unit %d: PTS %d", i, au.PTS-got[0].PTS)
				}
				if wantKey := tc.want.Kind == media.Audio || i%mediatest.GOP == 0; au.Key != wantKey {
					t.Errorf("unit %d: Key %v", i, au.Key)
				}
			}
			pub.c.Close()
		})
	}
}

// testReader plays a stream with gortsplib's client and decodes it back.
type testReader struct {
	mu     sync.Mutex
	video  [][][]byte
	vts    []uint32 // RTP timestamp of each video unit
	vntp   []time.Time
	audio  [][]byte
	sr     map[*description.Media]*rtcp.SenderReport
	client *gortsplib.Client
}

func startReader(t *testing.T, addr, name string, transport gortsplib.Transport) (*testReader, error) {
	t.Helper()
	return readURL(t, "rtsp://"+addr+"/"+name, nil, transport)
}

// readURL plays an rtsp:// or rtsps:// URL.
func readURL(t *testing.T, rawURL string, tlsConfig *tls.Config, transport gortsplib.Transport) (*testReader, error) {
	t.Helper()
	u, err := base.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &transport, TLSConfig: tlsConfig}
	if err := c.Start2(); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close() // a refused reader leaves, as players do
		return nil, err
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		c.Close()
		return nil, err
	}
	tr := &testReader{client: c, sr: map[*description.Media]*rtcp.SenderReport{}}
	for _, m := range desc.Medias {
		c.OnPacketRTCP(m, func(p rtcp.Packet) {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				tr.mu.Lock()
				tr.sr[m] = sr
				tr.mu.Unlock()
			}
		})
		switch f := m.Formats[0].(type) {
		case *format.H264:
			dec := mediatest.Must(f.CreateDecoder())
			c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				if au, err := dec.Decode(pkt); err == nil {
					tr.mu.Lock()
					tr.video = append(tr.video, au)
					tr.vts = append(tr.vts, pkt.Timestamp)
					var ntp time.Time
					if sr := tr.sr[m]; sr != nil {
						ntp = rtpcodec.NTPFromRTCP(sr.NTPTime).Add(time.Duration(int32(pkt.Timestamp-sr.RTPTime)) * time.Second / 90000)
					}
					tr.vntp = append(tr.vntp, ntp)
					tr.mu.Unlock()
				}
			})
		case *format.MPEG4Audio:
			dec := mediatest.Must(f.CreateDecoder())
			c.OnPacketRTP(m, f, func(pkt *rtp.Packet) {
				if aus, err := dec.Decode(pkt); err == nil {
					tr.mu.Lock()
					tr.audio = append(tr.audio, aus...)
					tr.mu.Unlock()
				}
			})
		}
	}
	if _, err := c.Play(nil); err != nil {
		return nil, err
	}
	return tr, nil
}

// waitVideo waits until the reader has decoded frame last.
func (tr *testReader) waitVideo(t *testing.T, last int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tr.mu.Lock()
		n := len(tr.video)
		done := n > 0 && mediatest.VideoIndex(tr.video[n-1]) >= last
		tr.mu.Unlock()
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("reader did not get frame %d", last)
}

// check verifies that the reader got consecutive frames from a keyframe
// to frame last, as sent, with RTP timestamps and NTP times that match.
func (tr *testReader) check(t *testing.T, last int) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	// A reader joining a running output gets the stream from where it
	// is: like a decoder, skip to the first keyframe.
	for len(tr.video) > 0 && mediatest.VideoIndex(tr.video[0])%mediatest.GOP != 0 {
		tr.video, tr.vts, tr.vntp = tr.video[1:], tr.vts[1:], tr.vntp[1:]
	}
	if len(tr.video) == 0 {
		t.Fatal("reader got no keyframe")
	}
	first := mediatest.VideoIndex(tr.video[0])
	for k, au := range tr.video {
		i := first + k
		if fmt.Sprint(au) != fmt.Sprint(mediatest.H264AU(i)) {
			t.Fatalf("reader unit %d: frame %d, want %d (or payload differs)", k, mediatest.VideoIndex(au), i)
		}
		if d := tr.vts[k] - tr.vts[0]; d != uint32(k*mediatest.VideoTicks) {
			t.Errorf("reader frame %d: RTP time +%d, want +%d", i, d, k*mediatest.VideoTicks)
		}
		if ntp := tr.vntp[k]; !ntp.IsZero() && ntp.Sub(videoNTP(i)).Abs() > 50*time.Millisecond {
			t.Errorf("reader frame %d: NTP %v, want %v", i, ntp, videoNTP(i))
		}
	}
	if mediatest.VideoIndex(tr.video[len(tr.video)-1]) != last {
		t.Errorf("reader ended at frame %d", mediatest.VideoIndex(tr.video[len(tr.video)-1]))
	}
	if tr.vntp[len(tr.vntp)-1].IsZero() {
		t.Error("reader got no sender report")
	}
	if len(tr.audio) == 0 {
		t.Error("reader got no audio")
	}
	for _, f := range tr.audio {
		j := mediatest.NumberOf(f, 1)
		if !bytes.Equal(f, mediatest.AudioFrame(j)) {
			t.Fatalf("reader audio frame %d differs", j)
		}
	}
}

func TestRTSPTwoReadersPlay(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv := startRTSPServer(t, reg, true)
	v, a := h264PubTrack(), aacPubTrack()
	pub, err := startPublisher(t, srv.Addr(), "live", gortsplib.TransportTCP, v, a)
	if err != nil {
		t.Fatal(err)
	}
	audio, err := sendAV(pub, v, a, 0, 15, 0, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	waitUnits(t, reg, "live", 15)

	// The first reader starts at the last keyframe (frame 10), the second
	// at the next one.
	r1, err := startReader(t, srv.Addr(), "live", gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := startReader(t, srv.Addr(), "live", gortsplib.TransportUDP)
	if err != nil {
		t.Fatal(err)
	}
	const last = 44
	if _, err := sendAV(pub, v, a, 15, last+1, audio, 2*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	r1.waitVideo(t, last)
	r2.waitVideo(t, last)
	r1.check(t, last)
	r2.check(t, last)
	r1.mu.Lock()
	if first := mediatest.VideoIndex(r1.video[0]); first != 10 {
		t.Errorf("first reader started at frame %d, want the last keyframe 10", first)
	}
	r1.mu.Unlock()

	// Readers leaving stop the output; the publication ending stops a new one.
	r1.client.Close()
	r2.client.Close()
	mediatest.WaitFor(t, "output stopped", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.outs) == 0
	})
	r3, err := startReader(t, srv.Addr(), "live", gortsplib.TransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	pub.c.Close()
	if err := r3.client.Wait(); err == nil {
		t.Error("reader not disconnected at the end of the publication")
	}
}

func waitUnits(t *testing.T, reg *media.Registry, name string, n int64) {
	t.Helper()
	mediatest.WaitFor(t, fmt.Sprintf("%d units on %s", n, name), func() bool {
		h, ok := reg.Hub(name)
		return ok && h.Units() >= n
	})
}

// rawRTSP sends one request on a plain TCP connection and returns the
// status line.
func rawRTSP(t *testing.T, addr, method, path string, header map[string]string, body []byte) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s rtsp://%s%s RTSP/1.0\r\nCSeq: 1\r\n", method, addr, path)
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	if _, err := nc.Write(append([]byte(b.String()), body...)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return strings.TrimSpace(line)
}

func TestRTSPBadInput(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger(), CheckName: mediatest.ReserveSuffix(".events")}
	tap := newHubTap(reg)
	srv := startRTSPServer(t, reg, false)

	// A second stream keeps flowing during all of it.
	ov := h264PubTrack()
	other, err := startPublisher(t, srv.Addr(), "other", gortsplib.TransportTCP, ov)
	if err != nil {
		t.Fatal(err)
	}
	otherReader := tap.next(t, "other")
	var otherSent atomic.Int64
	stopOther := make(chan struct{})
	otherDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopOther:
				otherDone <- nil
				return
			default:
			}
			if err := other.write(ov, int64(i)*mediatest.VideoTicks, videoNTP(i), mediatest.H264AU(i)); err != nil {
				otherDone <- err
				return
			}
			otherSent.Store(int64(i + 1))
			time.Sleep(3 * time.Millisecond)
		}
	}()

	t.Run("garbage RTP interleaved", func(t *testing.T) {
		v, a := h264PubTrack(), aacPubTrack()
		pub, err := startPublisher(t, srv.Addr(), "garbage", gortsplib.TransportTCP, v, a)
		if err != nil {
			t.Fatal(err)
		}
		r := tap.next(t, "garbage")
		garbage := []struct {
			payload []byte
			marker  bool
		}{
			{[]byte{}, true},                              // empty
			{[]byte{0x7c, 0x05, 0x11, 0x22}, false},       // FU-A middle fragment without a start
			{[]byte{0x7c, 0x45, 0x33}, true},              // FU-A end without a start
			{[]byte{0x78, 0xff, 0xff, 0x01}, true},        // STAP-A with a size past the end
			{[]byte{0x79, 0x00, 0x02, 0x41, 0x9a}, false}, // STAP-B: unsupported
			{[]byte{0xe5, 0x88, 0x01}, true},              // forbidden_zero_bit set
		}
		const frames = 30
		audio := 0
		for i := range frames {
			if audio, err = sendAV(pub, v, a, i, i+1, audio, time.Millisecond); err != nil {
				t.Fatal(err)
			}
			ts := v.base + uint32(i*mediatest.VideoTicks)
			for k, g := range garbage {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(40000 + i*10 + k),
					Timestamp: ts, Marker: g.marker}, Payload: g.payload}
				if err := pub.writeRaw(v, pkt); err != nil {
					t.Fatal(err)
				}
			}
			bad := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 97, SequenceNumber: uint16(50000 + i),
				Timestamp: a.base, Marker: true}, Payload: []byte{0x00, 0x10, 0xff, 0xf8, 0x01}}
			if err := pub.writeRaw(a, bad); err != nil {
				t.Fatal(err)
			}
		}
		got := collect(t, r, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= frames })
		for i, au := range got[0] {
			if fmt.Sprint(au.Payload) != fmt.Sprint(mediatest.H264AU(i)) {
				t.Fatalf("unit %d: frame %d (or payload differs)", i, mediatest.VideoIndex(au.Payload))
			}
		}
		for j, au := range got[1] {
			if !bytes.Equal(au.Payload[0], mediatest.AudioFrame(j)) {
				t.Fatalf("audio unit %d differs", j)
			}
		}
		pub.c.Close()
	})

	t.Run("unsupported codecs", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			media *description.Media
			codec string
		}{
			{"mpeg4v", &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.MPEG4Video{PayloadTyp: 96}}}, "MPEG-4 Video"},
			{"mjpeg", &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.MJPEG{}}}, "M-JPEG"},
			{"mpa", &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{&format.MPEG1Audio{}}}, "MPEG-1/2 Audio"},
		} {
			_, err := startPublisher(t, srv.Addr(), "codec-"+tc.name, gortsplib.TransportTCP,
				&pubTrack{media: tc.media}, h264PubTrack())
			if statusCode(err) != base.StatusUnsupportedMediaType || !strings.Contains(err.Error(), tc.codec) {
				t.Errorf("%s: %v, want 415 naming %s", tc.name, err, tc.codec)
			}
		}
		_, err := startPublisher(t, srv.Addr(), "two-videos", gortsplib.TransportTCP, h264PubTrack(), h265PubTrack())
		if statusCode(err) != base.StatusBadRequest {
			t.Errorf("two video tracks: %v, want 400", err)
		}
	})

	t.Run("broken SDP", func(t *testing.T) {
		for _, body := range []string{"this is not SDP", "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96\r\n", "\x00\x01\x02"} {
			line := rawRTSP(t, srv.Addr(), "ANNOUNCE", "/broken", map[string]string{"Content-Type": "application/sdp"}, []byte(body))
			if !strings.HasPrefix(line, "RTSP/1.0 400") {
				t.Errorf("broken SDP %q: %s", body, line)
			}
		}
		if _, ok := reg.Hub("broken"); ok {
			t.Error("a broken SDP was published")
		}
	})

	t.Run("bad names", func(t *testing.T) {
		for _, path := range []string{"/a/b", "/..", "/.", "/a%2Fb", "/", "/cam.events", "/" + strings.Repeat("x", 257), "/a*b"} {
			_, err := startPublisher(t, srv.Addr(), strings.TrimPrefix(path, "/"), gortsplib.TransportTCP, h264PubTrack())
			if statusCode(err) != base.StatusBadRequest {
				t.Errorf("ANNOUNCE %s: %v, want 400", path, err)
			}
			if line := rawRTSP(t, srv.Addr(), "DESCRIBE", path, nil, nil); !strings.HasPrefix(line, "RTSP/1.0 400") {
				t.Errorf("DESCRIBE %s: %s", path, line)
			}
		}
		if line := rawRTSP(t, srv.Addr(), "DESCRIBE", "/nobody", nil, nil); !strings.HasPrefix(line, "RTSP/1.0 404") {
			t.Errorf("DESCRIBE of an unknown stream: %s", line)
		}
	})

	t.Run("second publisher", func(t *testing.T) {
		v := h264PubTrack()
		first, err := startPublisher(t, srv.Addr(), "cam", gortsplib.TransportTCP, v)
		if err != nil {
			t.Fatal(err)
		}
		r := tap.next(t, "cam")
		if _, err := sendAV(first, v, nil, 0, 10, 0, 0); err != nil {
			t.Fatal(err)
		}
		_, err = startPublisher(t, srv.Addr(), "cam", gortsplib.TransportTCP, h264PubTrack())
		if statusCode(err) != base.StatusBadRequest || !strings.Contains(err.Error(), "already being published") {
			t.Fatalf("second publisher: %v", err)
		}
		if _, err := sendAV(first, v, nil, 10, 20, 0, 0); err != nil {
			t.Fatal(err)
		}
		got := collect(t, r, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= 20 })
		for i, au := range got[0] {
			if mediatest.VideoIndex(au.Payload) != i {
				t.Fatalf("unit %d is frame %d", i, mediatest.VideoIndex(au.Payload))
			}
		}
	})

	mediatest.WaitFor(t, "other stream frames", func() bool { return otherSent.Load() >= 20 })
	close(stopOther)
	if err := <-otherDone; err != nil {
		t.Fatalf("other stream: %v", err)
	}
	n := int(otherSent.Load())
	got := collect(t, otherReader, func(m map[int][]*media.AccessUnit) bool { return len(m[0]) >= n })
	for i, au := range got[0] {
		if mediatest.VideoIndex(au.Payload) != i {
			t.Fatalf("other stream: unit %d is frame %d", i, mediatest.VideoIndex(au.Payload))
		}
	}
}

func TestRTSPServerConfig(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	busy := startRTSPServer(t, reg, false)
	for _, s := range []*Server{
		{Address: "127.0.0.1:0"},
		{Registry: reg},
		{Address: "127.0.0.1:0", Registry: reg, UDPRTPAddress: "127.0.0.1:0"},
		{Address: "127.0.0.1:0", Registry: reg, UDPRTPAddress: "127.0.0.1:0", UDPRTCPAddress: "127.0.0.1:9"},
		{Address: "127.0.0.1:0", Registry: reg, UDPRTPAddress: "127.0.0.1:8001", UDPRTCPAddress: "127.0.0.1:8002"},
		{Address: busy.Addr(), Registry: reg},
	} {
		s.Logger = mediatest.Logger()
		if err := s.Initialize(); err == nil {
			s.Close()
			t.Errorf("Initialize(%+v) succeeded", s)
		}
		s.Close() // harmless after a failed Initialize
	}
	if !strings.HasPrefix(busy.Addr(), "127.0.0.1:") || strings.HasSuffix(busy.Addr(), ":0") {
		t.Errorf("Addr() = %q", busy.Addr())
	}
}

// TestRTSPPublisherEndedByServer: when the server ends a publication
// (Registry.End), the publisher's connection is closed.
func TestRTSPPublisherEndedByServer(t *testing.T) {
	reg := &media.Registry{Logger: mediatest.Logger()}
	srv := startRTSPServer(t, reg, true)
	pub, err := startPublisher(t, srv.Addr(), "cam1", gortsplib.TransportTCP, h264PubTrack())
	if err != nil {
		t.Fatal(err)
	}
	if !reg.End("cam1", errors.New("stream deleted")) {
		t.Fatal("no publication to end")
	}
	mediatest.WaitFor(t, "the publisher to be disconnected", func() bool {
		return pub.write(pub.tracks[0], 0, videoNTP(0), mediatest.H264AU(0)) != nil
	})
}
