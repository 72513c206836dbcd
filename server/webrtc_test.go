package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/turn/v5"
	pion "github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// whepViewer is a pion WHEP client that depacketizes the H.264 it gets.
type whepViewer struct {
	pc       *pion.PeerConnection
	session  string
	resp     *http.Response
	answer   string
	posted   time.Time
	mu       sync.Mutex
	aus      [][][]byte    // H.264 access units, in order
	firstAt  time.Duration // first access unit, after the POST
	audio    bool          // an audio track arrived
	state    chan pion.PeerConnectionState
	gotFirst chan struct{}
}

// loopbackPeer returns a client peer connection whose ICE uses loopback
// addresses only.
func loopbackPeer(t *testing.T) *pion.PeerConnection {
	t.Helper()
	api, err := whepclient.ClientAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

func newWHEPViewer(ctx context.Context, t *testing.T, endpoint string, opts ...whepclient.Option) (*whepViewer, error) {
	t.Helper()
	pc := loopbackPeer(t)
	v := &whepViewer{pc: pc, state: make(chan pion.PeerConnectionState, 16), gotFirst: make(chan struct{})}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		select {
		case v.state <- s:
		default:
		}
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() == pion.RTPCodecTypeAudio {
			v.mu.Lock()
			v.audio = true
			v.mu.Unlock()
			return
		}
		dec := &rtph264.Decoder{}
		if err := dec.Init(); err != nil {
			return
		}
		var once sync.Once
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			au, err := dec.Decode(pkt)
			if err != nil {
				continue
			}
			v.mu.Lock()
			v.aus = append(v.aus, au)
			if len(v.aus) == 1 {
				v.firstAt = time.Since(v.posted)
			}
			v.mu.Unlock()
			once.Do(func() { close(v.gotFirst) })
		}
	})
	v.posted = time.Now()
	var err error
	v.session, v.resp, v.answer, err = whepclient.Negotiate(ctx, http.DefaultClient, endpoint, pc, opts...)
	return v, err
}

// first waits for the first access unit and returns it and when it came.
func (v *whepViewer) first(t *testing.T, within time.Duration) ([][]byte, time.Duration) {
	t.Helper()
	select {
	case <-v.gotFirst:
	case <-time.After(within):
		t.Fatalf("no H.264 access unit within %s of the POST", within)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.aus[0], v.firstAt
}

func (v *whepViewer) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.aus)
}

// waitState waits for the client's peer connection to reach one of states.
func (v *whepViewer) waitState(t *testing.T, within time.Duration, states ...pion.PeerConnectionState) {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, s := range states {
			if v.pc.ConnectionState() == s {
				return
			}
		}
		select {
		case <-v.state:
		case <-deadline:
			t.Fatalf("client peer connection %s after %s, want one of %v", v.pc.ConnectionState(), within, states)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nalTypes lists an access unit's H.264 NAL unit types.
func nalTypes(au [][]byte) []h264.NALUType {
	var out []h264.NALUType
	for _, n := range au {
		if len(n) > 0 {
			out = append(out, h264.NALUType(n[0]&0x1f))
		}
	}
	return out
}

func isKeyframe(au [][]byte) bool {
	var sps, pps, idr bool
	for _, typ := range nalTypes(au) {
		switch typ {
		case h264.NALUTypeSPS:
			sps = true
		case h264.NALUTypePPS:
			pps = true
		case h264.NALUTypeIDR:
			idr = true
		}
	}
	return sps && pps && idr
}

// waitPeers waits until the server has n peer connections.
func waitPeers(t *testing.T, e *servertest.Env, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for e.Server.WebRTC().PeerConnections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server has %d peer connections after %s, want %d", e.Server.WebRTC().PeerConnections(), within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishLive publishes testClip to stream over RTSP for d, waits until
// it is live, and returns what stops it (and waits for the publisher).
func publishLive(ctx context.Context, t *testing.T, e *servertest.Env, stream string, d time.Duration) func() {
	t.Helper()
	pubCtx, stop := context.WithCancel(ctx)
	_, _, done := publish(pubCtx, e.RTSPURL(stream), d, "tcp")
	waitLive(t, e, stream)
	return func() { stop(); stopped(t, done) }
}

// waitLive waits for a stream's publication.
func waitLive(t *testing.T, e *servertest.Env, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, n := range e.Server.Registry().Names() {
			if n == name {
				return
			}
		}
	}
	t.Fatalf("stream %s never went live", name)
}

func TestWHEP(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	pubCtx, stopPub := context.WithCancel(ctx)
	_, _, done := publish(pubCtx, e.RTSPURL("cam"), 30*time.Second, "tcp")
	waitLive(t, e, "cam")
	time.Sleep(700 * time.Millisecond) // mid-GOP (keyframes every 2 s)

	endpoint := e.URL + "/webrtc/cam/whep"
	v1, err := newWHEPViewer(ctx, t, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if v1.resp.StatusCode != 201 || v1.resp.Header.Get("Content-Type") != "application/sdp" || !strings.HasPrefix(v1.resp.Header.Get("Location"), "/webrtc/cam/whep/") {
		t.Fatalf("WHEP POST: %d %v", v1.resp.StatusCode, v1.resp.Header)
	}
	// The stream's audio is AAC: the answer says why it is not sent.
	if !strings.Contains(v1.answer, "\ni=audio not sent: the stream's audio is AAC") || !strings.Contains(v1.resp.Header.Get("Eddy-Notice"), "AAC") {
		t.Errorf("answer lacks the AAC note:\n%s\nEddy-Notice: %q", v1.answer, v1.resp.Header.Get("Eddy-Notice"))
	}
	// The stream is H.264 Main: the answer picks the offer's Main entry.
	if !strings.Contains(v1.answer, "packetization-mode=1;profile-level-id=4d001f") {
		t.Errorf("answer's H.264 is not the offer's Main profile entry:\n%s", v1.answer)
	}
	au, at := v1.first(t, 5*time.Second)
	t.Logf("viewer 1: first access unit %v after %s", nalTypes(au), at)
	if !isKeyframe(au) {
		t.Errorf("viewer 1 started on %v, want SPS, PPS and IDR", nalTypes(au))
	}
	if at > time.Second {
		t.Errorf("viewer 1's first keyframe came %s after the POST, want ≤ 1 s", at)
	}
	v1.waitState(t, 5*time.Second, pion.PeerConnectionStateConnected)

	// A second viewer joins mid-GOP and also starts on a keyframe.
	time.Sleep(2300 * time.Millisecond)
	v2, err := newWHEPViewer(ctx, t, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	au, at = v2.first(t, 5*time.Second)
	t.Logf("viewer 2: first access unit %v after %s", nalTypes(au), at)
	if !isKeyframe(au) || at > time.Second {
		t.Errorf("viewer 2 started on %v after %s, want a keyframe within 1 s", nalTypes(au), at)
	}
	n1 := v1.count()
	time.Sleep(time.Second)
	if got := v1.count() - n1; got < 15 {
		t.Errorf("viewer 1 got %d access units in 1 s of a 25 fps stream", got)
	}
	// A unit's packets after its first left together, segmented by the
	// kernel (Linux 4.18 on), and arrived whole (the viewers decode them).
	if n := metricValue(t, e.URL, "eddy_webrtc_udp_segmented_sends_total"); runtime.GOOS == "linux" && n == 0 {
		t.Errorf("no segmented UDP sends: the viewers' packets went one by one")
	}
	v1.mu.Lock()
	if v1.audio {
		t.Errorf("an audio track arrived, though the stream's audio is AAC")
	}
	v1.mu.Unlock()
	waitPeers(t, e, 2, 2*time.Second)

	// DELETE ends viewer 1's session; a second DELETE finds nothing.
	if code, err := whepclient.EndSession(ctx, http.DefaultClient, v1.session); err != nil || code != 200 {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	waitPeers(t, e, 1, 2*time.Second)
	v1.waitState(t, 10*time.Second, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed, pion.PeerConnectionStateDisconnected)
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, v1.session); code != 404 {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	n2 := v2.count()
	time.Sleep(500 * time.Millisecond)
	if v2.count() == n2 {
		t.Errorf("viewer 2 stopped receiving when viewer 1 left")
	}

	// The publisher leaves: viewer 2's session ends.
	stopPub()
	stopped(t, done)
	waitPeers(t, e, 0, 5*time.Second)
	v2.waitState(t, 10*time.Second, pion.PeerConnectionStateClosed, pion.PeerConnectionStateFailed, pion.PeerConnectionStateDisconnected)
	if w, p := e.Server.WebRTC().Sessions(); w+p != 0 {
		t.Errorf("%d WHEP and %d WHIP sessions left", w, p)
	}
}

// whipPublisher publishes testClip's H.264 over WHIP with pion.
func whipPublisher(ctx context.Context, t *testing.T, endpoint string, d time.Duration) (string, chan error, *atomic.Int64) {
	t.Helper()
	pc := loopbackPeer(t)
	t.Cleanup(func() { pc.Close() })
	track, err := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"}, "video", "test")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := pc.AddTransceiverFromTrack(track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	plis := &atomic.Int64{}
	go func() {
		for {
			pkts, _, err := tr.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					plis.Add(1)
				}
			}
		}
	}()
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	session, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, endpoint, pc)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("WHIP publisher did not connect")
	}
	done := make(chan error, 1)
	sendClipVideo(ctx, t, track, d, done)
	return session, done, plis
}

// sendClipVideo writes d of testClip's H.264 to track in real time (its
// AAC stays behind: WHIP carries Opus), then Run's result to done.
func sendClipVideo(ctx context.Context, t *testing.T, track *pion.TrackLocalStaticRTP, d time.Duration, done chan<- error) {
	t.Helper()
	fp := &rtspclient.FilePublisher{File: testClip, Duration: d}
	if err := fp.Load(); err != nil {
		t.Fatal(err)
	}
	fp.Send = func(m *description.Media, pkt *rtp.Packet, _ time.Time) error {
		if m.Type != description.MediaTypeVideo {
			return nil
		}
		return track.WriteRTP(pkt)
	}
	go func() { done <- fp.Run(ctx) }()
}

func TestWHIP(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	session, done, plis := whipPublisher(ctx, t, e.URL+"/webrtc/door/whip", 7*time.Second)

	// Live for WHEP viewers while it publishes.
	waitLive(t, e, "door")
	v, err := newWHEPViewer(ctx, t, e.URL+"/webrtc/door/whep")
	if err != nil {
		t.Fatal(err)
	}
	if au, _ := v.first(t, 3*time.Second); !isKeyframe(au) {
		t.Errorf("WHEP viewer of a WHIP publication started on %v", nalTypes(au))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Eddy asked for a keyframe at once and every keyframe_interval (2 s).
	if n := plis.Load(); n < 3 {
		t.Errorf("the WHIP publisher got %d keyframe requests (PLI) in 7 s, want ≥ 3", n)
	}
	if code, err := whepclient.EndSession(ctx, http.DefaultClient, session); err != nil || code != 200 {
		t.Fatalf("DELETE WHIP session: %d %v", code, err)
	}
	// The publication ended with the WHIP session, and so did the viewer's.
	waitPeers(t, e, 0, 5*time.Second)

	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "door", types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 3, 5*time.Second)
	if len(frags) < 3 {
		t.Fatalf("%d fragments of a 7 s WHIP publication, want ≥ 3", len(frags))
	}
	from, to := *frags[0].ServerTimestamp, time.Now()
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("door"),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg decodes the whole HLS session: every frame of the 7 s.
	out := mediatest.FFprobe(ctx, t, *od.HLSStreamingSessionURL, "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0")
	// (ffprobe prints the stream once per HLS program.)
	fields := strings.Split(strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0], ",")
	if len(fields) != 4 || fields[0] != "h264" || fields[1] != "320" || fields[2] != "240" {
		t.Fatalf("ffprobe of the HLS session: %q", out)
	}
	if n, _ := strconv.Atoi(fields[3]); n < 150 {
		t.Errorf("HLS session decodes to %d frames, want ≥ 150 of 175 sent", n)
	}
	t.Logf("HLS session of the WHIP publication: %s", strings.TrimSpace(string(out)))
}

// offerSDP makes an offer from a pion client with only the given codecs.
func offerSDP(t *testing.T, codecs []pion.RTPCodecParameters, dir pion.RTPTransceiverDirection) string {
	t.Helper()
	me := &pion.MediaEngine{}
	for _, c := range codecs {
		kind := pion.RTPCodecTypeVideo
		if strings.HasPrefix(c.MimeType, "audio/") {
			kind = pion.RTPCodecTypeAudio
		}
		if err := me.RegisterCodec(c, kind); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := pion.NewAPI(pion.WithMediaEngine(me)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	kinds := map[pion.RTPCodecType]bool{}
	for _, c := range codecs {
		if strings.HasPrefix(c.MimeType, "audio/") {
			kinds[pion.RTPCodecTypeAudio] = true
		} else {
			kinds[pion.RTPCodecTypeVideo] = true
		}
	}
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if kinds[k] {
			if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: dir}); err != nil {
				t.Fatal(err)
			}
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func post(t *testing.T, u, ctype, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestWebRTCBadInput(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) {
		c.WebRTCOptions.MaxPending = 8
		c.WebRTCOptions.HandshakeTimeout = server.Duration(2 * time.Second)
	})
	ctx := servertest.Context(t, time.Minute)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	_, _, done := publish(pubCtx, e.RTSPURL("cam"), time.Minute, "tcp")
	waitLive(t, e, "cam")
	h264Only := offerSDP(t, []pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}}, pion.RTPTransceiverDirectionRecvonly)
	vp8Only := offerSDP(t, []pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}}, pion.RTPTransceiverDirectionRecvonly)
	g722Send := offerSDP(t, []pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeG722, ClockRate: 8000}, PayloadType: 9}}, pion.RTPTransceiverDirectionSendonly)

	cases := []struct {
		name, path, ctype, body string
		status                  int
		says                    string
	}{
		{"malformed SDP", "/webrtc/cam/whep", "application/sdp", "v=0\r\nthis is not SDP\r\n", 400, "malformed SDP offer"},
		{"SDP without media", "/webrtc/cam/whep", "application/sdp", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", 400, "no media sections"},
		{"wrong content type", "/webrtc/cam/whep", "application/json", h264Only, 415, "Content-Type must be application/sdp"},
		{"unknown stream", "/webrtc/nope/whep", "application/sdp", h264Only, 404, `stream "nope" does not exist`},
		{"invalid name", "/webrtc/bad%20name/whep", "application/sdp", h264Only, 400, "invalid stream name"},
		{"unsupported codecs only (WHEP)", "/webrtc/cam/whep", "application/sdp", vp8Only, 400, "the stream's video is H264, which the offer does not accept (it offers VP8)"},
		{"unsupported codecs only (WHIP)", "/webrtc/new/whip", "application/sdp", g722Send, 400, "nothing Eddy can receive"},
		{"WHIP to a live stream", "/webrtc/cam/whip", "application/sdp", g722Send, 409, "already being published"},
		{"WHEP offer to WHIP", "/webrtc/other/whip", "application/sdp", h264Only, 400, "to play, POST the offer to /whep"},
		{"WHIP offer to WHEP", "/webrtc/cam/whep", "application/sdp", g722Send, 400, "to publish, POST the offer to /whip"},
	}
	for _, c := range cases {
		status, _, body := post(t, e.URL+c.path, c.ctype, c.body)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, status, strings.TrimSpace(body), c.status, c.says)
		}
	}
	if n := e.Server.WebRTC().PeerConnections(); n != 0 {
		t.Errorf("%d peer connections after refused requests", n)
	}
	// The refused WHIP did not leave a publication behind.
	for _, n := range e.Server.Registry().Names() {
		if n == "new" {
			t.Errorf("a refused WHIP publisher left stream %q live", n)
		}
	}

	// Trickle ICE and DELETE on sessions.
	status, hdr, _ := post(t, e.URL+"/webrtc/cam/whep", "application/sdp", h264Only)
	if status != 201 {
		t.Fatalf("WHEP POST: %d", status)
	}
	loc := e.URL + hdr.Get("Location")
	patch := func(ctype, body string) int {
		req, _ := http.NewRequest(http.MethodPatch, loc, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ufrag := strings.SplitN(strings.SplitN(h264Only, "a=ice-ufrag:", 2)[1], "\r\n", 2)[0]
	good := "a=ice-ufrag:" + ufrag + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\na=end-of-candidates\r\n"
	for _, c := range []struct {
		name, ctype, body string
		status            int
	}{
		{"trickle candidate", "application/trickle-ice-sdpfrag", good, 204},
		{"wrong type", "application/sdp", good, 415},
		{"garbage", "application/trickle-ice-sdpfrag", "hello\r\n", 400},
		{"bad candidate", "application/trickle-ice-sdpfrag", "m=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\na=candidate:nonsense\r\n", 400},
		{"ICE restart", "application/trickle-ice-sdpfrag", "a=ice-ufrag:other\r\na=ice-pwd:0123456789012345678901\r\n", 422},
	} {
		if got := patch(c.ctype, c.body); got != c.status {
			t.Errorf("PATCH %s: %d, want %d", c.name, got, c.status)
		}
	}
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, loc); code != 200 {
		t.Errorf("DELETE: %d", code)
	}
	if got := patch("application/trickle-ice-sdpfrag", good); got != 404 {
		t.Errorf("PATCH after DELETE: %d, want 404", got)
	}

	// A flood of offers that never connect: the pending cap answers 429,
	// and the handshake timeout reaps the rest.
	var created, limited int
	for i := 0; i < 40; i++ {
		status, hdr, body := post(t, e.URL+"/webrtc/cam/whep", "application/sdp", h264Only)
		switch status {
		case 201:
			created++
		case 429:
			limited++
			if hdr.Get("Retry-After") == "" || !strings.Contains(body, "still connecting") {
				t.Errorf("429 without Retry-After or reason: %v %q", hdr, body)
			}
		default:
			t.Fatalf("flood POST %d: %d %s", i, status, body)
		}
	}
	if created != 8 || limited != 32 {
		t.Errorf("flood: %d created, %d refused; want 8 and 32", created, limited)
	}
	waitPeers(t, e, 0, 6*time.Second)
	if w, p := e.Server.WebRTC().Sessions(); w+p != 0 {
		t.Errorf("%d WHEP and %d WHIP sessions left after the flood", w, p)
	}
	// The publication went on through all of it, and a real viewer plays.
	v, err := newWHEPViewer(ctx, t, e.URL+"/webrtc/cam/whep")
	if err != nil {
		t.Fatal(err)
	}
	if au, _ := v.first(t, 3*time.Second); !isKeyframe(au) {
		t.Errorf("viewer after the flood started on %v", nalTypes(au))
	}
	v.pc.Close()
	stopPub()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("publisher: %v", err)
	}
	waitPeers(t, e, 0, 10*time.Second)
}

// opusPackets makes d of real Opus packets (20 ms each) with ffmpeg.
func opusPackets(t *testing.T, d time.Duration) [][]byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "tone.ogg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", strconv.FormatFloat(d.Seconds(), 'f', 3, 64), "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20",
		"-page_duration", "20000", f).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg opus: %v: %s", err, out)
	}
	fh, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rd, _, err := oggreader.NewWith(fh)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for {
		p, _, err := rd.ParseNextPage()
		if err != nil {
			break
		}
		if len(p) == 0 || bytes.HasPrefix(p, []byte("OpusTags")) {
			continue
		}
		pkts = append(pkts, p)
	}
	if len(pkts) < int(d/(40*time.Millisecond)) {
		t.Fatalf("%d Opus packets from %s of audio", len(pkts), d)
	}
	return pkts
}

// TestWHIPOpus publishes H.264 and Opus over WHIP: a WHEP viewer gets both
// (no notice), and the recording keeps the Opus track.
func TestWHIPOpus(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	opus := opusPackets(t, 6*time.Second)

	pc := loopbackPeer(t)
	defer pc.Close()
	video, _ := pion.NewTrackLocalStaticRTP(pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"}, "video", "test")
	audio, _ := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "test")
	for _, tr := range []pion.TrackLocal{video, audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	session, resp, _, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/mic/whip", pc)
	if err != nil {
		t.Fatal(err)
	}
	if n := resp.Header.Get("Eddy-Notice"); n != "" {
		t.Errorf("H.264 + Opus WHIP answer has a notice: %q", n)
	}
	done := make(chan error, 2)
	sendClipVideo(ctx, t, video, 6*time.Second, done)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for _, p := range opus {
			<-tick.C
			if err := audio.WriteSample(pionmedia.Sample{Data: p, Duration: 20 * time.Millisecond}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	waitLive(t, e, "mic")
	time.Sleep(500 * time.Millisecond)
	v, err := newWHEPViewer(ctx, t, e.URL+"/webrtc/mic/whep")
	if err != nil {
		t.Fatal(err)
	}
	if n := v.resp.Header.Get("Eddy-Notice"); n != "" || strings.Contains(v.answer, "\ni=") {
		t.Errorf("WHEP of H.264 + Opus has a notice: %q", n)
	}
	if au, _ := v.first(t, 3*time.Second); !isKeyframe(au) {
		t.Errorf("viewer started on %v", nalTypes(au))
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		v.mu.Lock()
		got := v.audio
		v.mu.Unlock()
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the WHEP viewer got no Opus track")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := 0; i < 2; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, session); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	waitPeers(t, e, 0, 5*time.Second)

	// The recording has both tracks: GetClip as MP4, read by ffprobe.
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "mic", types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 2, 5*time.Second)
	if len(frags) < 2 {
		t.Fatalf("%d fragments", len(frags))
	}
	codecs := streamCodecs(t, getClip(ctx, t, am, "mic", *frags[0].ServerTimestamp, time.Now()))
	if strings.Join(codecs, ",") != "h264,opus" {
		t.Errorf("clip of the WHIP publication has streams %v, want h264 and opus", codecs)
	}
}

// TestWebRTCICEConfig checks the ICE settings reach the answer: one UDP
// and one TCP candidate on the configured port, the advertised address in
// place of the local one, and the ICE servers as Link headers.
func TestWebRTCICEConfig(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) {
		c.WebRTCOptions.Advertise = []string{"192.0.2.10"}
		c.WebRTCOptions.ICEServers = []server.ICEServerConfig{{URLs: []string{"stun:stun.example.net:3478"}},
			{URLs: []string{"turn:turn.example.net:3478?transport=udp"}, Username: "u", Credential: "p"}}
	})
	ctx := servertest.Context(t, 30*time.Second)
	defer publishLive(ctx, t, e, "cam", 20*time.Second)()
	offer := offerSDP(t, []pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}}, pion.RTPTransceiverDirectionRecvonly)
	status, hdr, answer := post(t, e.URL+"/webrtc/cam/whep", "application/sdp", offer)
	if status != 201 {
		t.Fatalf("POST: %d %s", status, answer)
	}
	_, port, _ := strings.Cut(e.Server.WebRTC().UDPAddr(), ":")
	_, tcpPort, _ := strings.Cut(e.Server.WebRTC().TCPAddr(), ":")
	var udp, tcp int
	for _, l := range strings.Split(answer, "\r\n") {
		if !strings.HasPrefix(l, "a=candidate:") {
			continue
		}
		f := strings.Fields(l)
		if f[1] != "1" {
			continue // pion repeats each candidate for the RTCP component
		}
		if f[4] != "192.0.2.10" {
			t.Errorf("candidate with address %s, want the advertised 192.0.2.10: %s", f[4], l)
		}
		switch strings.ToLower(f[2]) {
		case "udp":
			udp++
			if f[5] != port {
				t.Errorf("UDP candidate on port %s, want %s", f[5], port)
			}
		case "tcp":
			tcp++
			if f[5] != tcpPort || !strings.Contains(l, "tcptype passive") {
				t.Errorf("TCP candidate %s, want passive on port %s", l, tcpPort)
			}
		}
	}
	if udp != 1 || tcp != 1 {
		t.Errorf("%d UDP and %d TCP candidates, want 1 and 1:\n%s", udp, tcp, answer)
	}
	links := strings.Join(hdr.Values("Link"), "\n")
	if !strings.Contains(links, `<stun:stun.example.net:3478>; rel="ice-server"`) ||
		!strings.Contains(links, `<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"`) {
		t.Errorf("Link headers:\n%s", links)
	}
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, e.URL+hdr.Get("Location")); code != 200 {
		t.Errorf("DELETE: %d", code)
	}
}

// TestWHEPDeadAndSlowPeers: one viewer vanishes without a word (its socket
// closes), one never reads what it gets; a third viewer and the publisher
// are not held up, and the dead peer's session is reaped.
func TestWHEPDeadAndSlowPeers(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	defer publishLive(ctx, t, e, "cam", 40*time.Second)()
	endpoint := e.URL + "/webrtc/cam/whep"

	// The dead one: ICE over a socket of its own, closed after it connects.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := pion.SettingEngine{}
	se.SetICEUDPMux(pion.NewICEUDPMux(nil, conn))
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	dead, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := dead.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	dead.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, endpoint, dead); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("the soon-dead viewer did not connect")
	}

	// The slow one: connected, never reads its track.
	api, _ := whepclient.ClientAPI(true)
	slow, _ := api.NewPeerConnection(pion.Configuration{})
	defer slow.Close()
	_, _ = slow.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
	if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, endpoint, slow); err != nil {
		t.Fatal(err)
	}

	good, err := newWHEPViewer(ctx, t, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	good.first(t, 3*time.Second)
	waitPeers(t, e, 3, 5*time.Second)

	conn.Close() // the dead viewer is gone: no DTLS close, no DELETE
	start, n0 := time.Now(), good.count()
	var last int
	var gaps time.Duration
	lastChange := time.Now()
	for time.Since(start) < 14*time.Second {
		time.Sleep(20 * time.Millisecond)
		if c := good.count(); c != last {
			gaps, last, lastChange = max(gaps, time.Since(lastChange)), c, time.Now()
		}
		if e.Server.WebRTC().PeerConnections() == 2 && time.Since(start) > 5*time.Second {
			break
		}
	}
	elapsed := time.Since(start)
	if n := e.Server.WebRTC().PeerConnections(); n != 2 {
		t.Errorf("%d peer connections %s after one viewer vanished, want 2 (the dead one reaped)", n, elapsed)
	}
	got := good.count() - n0
	t.Logf("healthy viewer: %d frames in %s, longest wait %s; dead peer reaped after %s", got, elapsed.Round(time.Millisecond), gaps.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	// A stall would last until the dead peer is reaped (~10 s); the bounds
	// leave room for a loaded CI machine slowing the publisher itself.
	if float64(got) < 0.75*25*elapsed.Seconds() || gaps > time.Second {
		t.Errorf("the healthy viewer got %d frames in %s (longest wait %s) beside a dead and a slow peer", got, elapsed, gaps)
	}
}

// TestWHEPCodecs plays streams ffmpeg publishes over RTSP with other
// codecs: H.265 video (offered by the client) with Opus audio, and H.264
// with G.711 audio (PCMU); each track arrives with its codec.
func TestWHEPCodecs(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	cases := []struct {
		stream string
		args   []string
		want   []string // MIME types of the tracks that arrive
	}{
		{"h265-opus", []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:v", "libx265", "-preset", "ultrafast",
			"-x265-params", "log-level=error:keyint=25:min-keyint=25:bframes=0", "-c:a", "libopus"}, []string{pion.MimeTypeH265, pion.MimeTypeOpus}},
		{"h264-pcmu", []string{"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-bf", "0",
			"-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1"}, []string{pion.MimeTypeH264, pion.MimeTypePCMU}},
	}
	// The cases run one after the other: parallel subtests could wait for a
	// free slot past the test's context deadline.
	for _, c := range cases {
		t.Run(c.stream, func(t *testing.T) {
			args := append([]string{"-v", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"}, c.args...)
			args = append(args, "-t", "15", "-f", "rtsp", "-rtsp_transport", "tcp", e.RTSPURL(c.stream))
			ff := exec.CommandContext(ctx, "ffmpeg", args...)
			if err := ff.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = ff.Process.Kill(); _ = ff.Wait() }()
			waitLive(t, e, c.stream)
			api, _ := whepclient.ClientAPI(true)
			pc, err := api.NewPeerConnection(pion.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
				_, _ = pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
			}
			var mu sync.Mutex
			packets := map[string]int{}
			pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
				for {
					if _, _, err := tr.ReadRTP(); err != nil {
						return
					}
					mu.Lock()
					packets[tr.Codec().MimeType]++
					mu.Unlock()
				}
			})
			_, resp, _, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/"+c.stream+"/whep", pc)
			if err != nil {
				t.Fatal(err)
			}
			if n := resp.Header.Get("Eddy-Notice"); n != "" {
				t.Errorf("notice %q", n)
			}
			// ffmpeg encodes in real time; on a loaded CI machine (the race
			// detector, other tests) it may fall behind, so allow 10 s.
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				ok := packets[c.want[0]] > 50 && packets[c.want[1]] > 50
				got := fmt.Sprint(packets)
				mu.Unlock()
				if ok {
					t.Logf("packets by codec: %s", got)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("packets by codec after 10 s: %s; want > 50 of %v", got, c.want)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestWHIPVP8 publishes VP8 (a codec HLS cannot carry) over WHIP with
// pion: the answer says so, WHEP viewers get VP8, the fragments are
// recorded, and HLS refuses the stream naming WebRTC.
func TestWHIPVP8(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	f, err := os.Open(filepath.Join("..", "testdata", "cam-vp8.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ivf, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	frameDur := time.Second * time.Duration(hdr.TimebaseNumerator) / time.Duration(hdr.TimebaseDenominator)
	var frames [][]byte
	for {
		fr, _, err := ivf.ParseNextFrame()
		if err != nil {
			break
		}
		frames = append(frames, fr)
	}
	api, _ := whepclient.ClientAPI(true)
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	track, _ := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, "video", "test")
	tr, err := pc.AddTransceiverFromTrack(track, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	// The file is VP8: offer only that, as OBS or GStreamer offer their
	// encoder's codec (a browser offers all and encodes what is chosen).
	if err := tr.SetCodecPreferences([]pion.RTPCodecParameters{{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}}); err != nil {
		t.Fatal(err)
	}
	session, resp, _, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/vp8cam/whip", pc)
	if err != nil {
		t.Fatal(err)
	}
	if n := resp.Header.Get("Eddy-Notice"); !strings.Contains(n, "HLS cannot carry it") {
		t.Errorf("WHIP answer notice %q, want that HLS cannot carry VP8", n)
	}
	sent := make(chan error, 1)
	go func() {
		tick := time.NewTicker(frameDur)
		defer tick.Stop()
		for _, fr := range frames {
			<-tick.C
			if err := track.WriteSample(pionmedia.Sample{Data: fr, Duration: frameDur}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	waitLive(t, e, "vp8cam")

	viewer, _ := api.NewPeerConnection(pion.Configuration{})
	defer viewer.Close()
	_, _ = viewer.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
	gotVP8 := make(chan string, 1)
	viewer.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		select {
		case gotVP8 <- tr.Codec().MimeType:
		default:
		}
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
		}
	})
	if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/vp8cam/whep", viewer); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-gotVP8:
		if m != pion.MimeTypeVP8 {
			t.Errorf("WHEP viewer got %s, want VP8", m)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("WHEP viewer got no track")
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if code, _ := whepclient.EndSession(ctx, http.DefaultClient, session); code != 200 {
		t.Fatalf("DELETE: %d", code)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "vp8cam", types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Minute), 2, 5*time.Second)
	if len(frags) < 2 {
		t.Fatalf("%d fragments of the VP8 WHIP publication", len(frags))
	}
	from, to := *frags[0].ServerTimestamp, time.Now()
	if codecs := streamCodecs(t, getClip(ctx, t, am, "vp8cam", from, to)); len(codecs) != 1 || codecs[0] != "vp8" {
		t.Errorf("clip streams %v, want one vp8", codecs)
	}
	_, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("vp8cam"),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err == nil || !strings.Contains(err.Error(), "UnsupportedStreamMediaType") || !strings.Contains(err.Error(), "WebRTC") {
		t.Errorf("HLS of a VP8 stream: %v, want UnsupportedStreamMediaTypeException naming WebRTC", err)
	}
}

// TestWHEPOverTCP plays over ICE-TCP only (a client whose UDP is blocked).
func TestWHEPOverTCP(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 30*time.Second)
	defer publishLive(ctx, t, e, "cam", 20*time.Second)()
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := pion.SettingEngine{}
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeTCP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, _ = pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
	got := make(chan int, 1)
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		n := 0
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if n++; n == 100 {
				got <- n
			}
		}
	})
	if _, _, _, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/cam/whep", pc); err != nil {
		t.Fatal(err)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("no 100 RTP packets over ICE-TCP in 5 s (state %s)", pc.ConnectionState())
	}
	stats := pc.GetStats()
	pairs := 0
	for _, s := range stats {
		if p, ok := s.(pion.ICECandidatePairStats); ok && p.Nominated {
			c, ok := stats[p.LocalCandidateID].(pion.ICECandidateStats)
			if !ok {
				continue
			}
			pairs++
			if c.Protocol != "tcp" {
				t.Errorf("nominated pair over %s, want tcp", c.Protocol)
			}
		}
	}
	if pairs == 0 {
		t.Error("no nominated candidate pair in the client's stats")
	}
}

// TestWebRTCTURN: with a TURN server configured, Eddy's answers carry a
// relay candidate allocated on it (a pion TURN server on loopback), and a
// client that may only use relays (iceTransportPolicy "relay") plays.
func TestWebRTCTURN(t *testing.T) {
	t.Parallel()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := turn.GenerateAuthKey("eddy", "eddy.test", "secret")
	ts, err := turn.NewServer(turn.ServerConfig{Realm: "eddy.test",
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == "eddy"
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: net.IPv4(127, 0, 0, 1), Address: "127.0.0.1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	turnURL := "turn:" + conn.LocalAddr().String() + "?transport=udp"
	e := servertest.Start(t, func(c *server.Config) {
		c.WebRTCOptions.ICEServers = []server.ICEServerConfig{{URLs: []string{turnURL}, Username: "eddy", Credential: "secret"}}
	})
	ctx := servertest.Context(t, 30*time.Second)
	defer publishLive(ctx, t, e, "cam", 20*time.Second)()

	api, _ := whepclient.ClientAPI(true)
	pc, err := api.NewPeerConnection(pion.Configuration{ICETransportPolicy: pion.ICETransportPolicyRelay,
		ICEServers: []pion.ICEServer{{URLs: []string{turnURL}, Username: "eddy", Credential: "secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, _ = pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
	got := make(chan struct{})
	var once sync.Once
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for n := 0; ; n++ {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if n == 50 {
				once.Do(func() { close(got) })
			}
		}
	})
	_, _, answer, err := whepclient.Negotiate(ctx, http.DefaultClient, e.URL+"/webrtc/cam/whep", pc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(answer, " typ relay ") {
		t.Errorf("no relay candidate in Eddy's answer:\n%s", answer)
	}
	select {
	case <-got:
	case <-time.After(5 * time.Second):
		t.Fatalf("a relay-only client got no video in 5 s (state %s)", pc.ConnectionState())
	}
}
