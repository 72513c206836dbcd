package server_test

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// spsOf builds an H.264 SPS (baseline, pic_order_cnt_type 2 as
// mediatest's, so DTS = PTS) for a width and height in whole macroblocks:
// a camera that changes its resolution sends a new one.
func spsOf(width, height int) []byte {
	var w bitWriter
	w.bits(66, 8) // profile_idc: baseline
	w.bits(0xc0, 8)
	w.bits(40, 8) // level_idc
	w.ue(0)       // seq_parameter_set_id
	w.ue(0)       // log2_max_frame_num_minus4
	w.ue(2)       // pic_order_cnt_type
	w.ue(1)       // max_num_ref_frames
	w.bits(0, 1)  // gaps_in_frame_num_value_allowed_flag
	w.ue(width/16 - 1)
	w.ue(height/16 - 1)
	w.bits(1, 1) // frame_mbs_only_flag
	w.bits(1, 1) // direct_8x8_inference_flag
	w.bits(0, 1) // frame_cropping_flag
	w.bits(0, 1) // vui_parameters_present_flag
	w.bits(1, 1) // rbsp_stop_one_bit
	for w.n%8 != 0 {
		w.bits(0, 1)
	}
	// Emulation prevention: no 00 00 0x (x ≤ 3) in a NAL unit.
	out := []byte{0x67}
	zeros := 0
	for _, b := range w.b {
		if zeros >= 2 && b <= 3 {
			out, zeros = append(out, 3), 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

type bitWriter struct {
	b []byte
	n int
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>uint(i)&1) << uint(7-w.n%8)
		w.n++
	}
}

// ue writes an Exp-Golomb code.
func (w *bitWriter) ue(v int) {
	x := uint64(v + 1)
	n := 0
	for x>>uint(n+1) != 0 {
		n++
	}
	w.bits(0, n)
	w.bits(x, n+1)
}

// camera is a gortsplib publisher whose RTP timestamps, frame sizes and
// parameter sets a test chooses: a bad camera.
type camera struct {
	c   *gortsplib.Client
	m   *description.Media
	enc *rtph264.Encoder
	sps []byte
	i   int
}

func newCamera(t *testing.T, url string) *camera {
	t.Helper()
	f := &format.H264{PayloadTyp: 96, SPS: mediatest.H264SPS, PPS: mediatest.H264PPS, PacketizationMode: 1}
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}}
	tcp := gortsplib.TransportTCP
	// The queue holds a whole large frame (the dead-reader test sends
	// 250 kB frames, about 180 packets each) on a loaded machine.
	c := &gortsplib.Client{Transport: &tcp, WriteQueueSize: 4096}
	if err := c.StartRecording(url, &description.Session{Medias: []*description.Media{m}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &camera{c: c, m: m, enc: enc, sps: mediatest.H264SPS}
}

// frame sends the camera's next frame, with RTP timestamp ts (90 kHz) and
// extra bytes of payload: a keyframe (with SPS and PPS) every gop frames.
func (cam *camera) frame(ts int64, gop, extra int) error {
	var au [][]byte
	if cam.i%gop == 0 {
		au = [][]byte{cam.sps, mediatest.H264PPS, mediatest.Numbered([]byte{0x65, 0x88}, cam.i, 3000+extra)}
	} else {
		au = [][]byte{mediatest.Numbered([]byte{0x41, 0x9a}, cam.i, 300+extra)}
	}
	cam.i++
	pkts, err := cam.enc.Encode(au)
	if err != nil {
		return err
	}
	for _, p := range pkts {
		p.Timestamp = uint32(ts)
		if err := cam.c.WritePacketRTP(cam.m, p); err != nil {
			return err
		}
	}
	return nil
}

// stream sends frames at 25 fps (a keyframe every gop, extra bytes each)
// until the returned stop is called; stop reports the first send error.
func (cam *camera) stream(gop, extra int) (stop func() error) {
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		var ts int64
		for {
			select {
			case <-done:
				errc <- nil
				return
			default:
			}
			if err := cam.frame(ts, gop, extra); err != nil {
				errc <- err
				return
			}
			ts += tick / 25
			time.Sleep(40 * time.Millisecond)
		}
	}()
	return func() error {
		close(done)
		return <-errc
	}
}

// run sends n frames step ticks apart from ts, one every pace of wall
// time, and returns the timestamp after the last.
func (cam *camera) run(ts int64, n int, step int64, pace time.Duration, gop, extra int) (int64, error) {
	for range n {
		if err := cam.frame(ts, gop, extra); err != nil {
			return ts, err
		}
		ts += step
		time.Sleep(pace)
	}
	return ts, nil
}

// badCameraCase is one row of the bad-camera table (README, "Bad
// cameras"): what the camera sends, and the outcome.
type badCameraCase struct {
	name    string
	send    func(cam *camera) error
	repairs map[string]int // at least this many of eddy_recorder_repairs_total{event}
	check   func(t *testing.T, frags []types.Fragment, playlist string)
}

const tick = 90000 // RTP ticks a second

var badCameraCases = []badCameraCase{
	{name: "60 s GOP", send: func(cam *camera) error {
		// 2 fps, a keyframe every 60 s, sent at 25 times real time.
		_, err := cam.run(0, 125, tick/2, 20*time.Millisecond, 120, 0)
		return err
	}, repairs: map[string]int{"duration_cut": 5}, check: func(t *testing.T, frags []types.Fragment, _ string) {
		if len(frags) < 7 {
			t.Errorf("%d fragments; want the 62 s cut into 7 of at most 10 s", len(frags))
		}
	}},
	{name: "0 fps for a minute", send: func(cam *camera) error {
		ts, err := cam.run(0, 25, tick/25, 40*time.Millisecond, 10, 0)
		if err != nil {
			return err
		}
		time.Sleep(2 * time.Second) // nothing sent; the camera's clock runs on a minute
		_, err = cam.run(ts+60*tick, 25, tick/25, 40*time.Millisecond, 10, 0)
		return err
	}, repairs: map[string]int{"timestamp_jump": 1}, check: func(t *testing.T, frags []types.Fragment, playlist string) {
		wantTotal(t, frags, 2*time.Second)
		wantDiscontinuities(t, playlist, 1)
	}},
	{name: "timestamps jumping back and forth by hours", send: func(cam *camera) error {
		var ts int64
		for _, jump := range []int64{0, -3 * 3600, +5 * 3600, -4 * 3600} {
			var err error
			if ts, err = cam.run(ts+jump*tick, 25, tick/25, 40*time.Millisecond, 10, 0); err != nil {
				return err
			}
		}
		return nil
	}, repairs: map[string]int{"timestamp_jump": 3}, check: func(t *testing.T, frags []types.Fragment, playlist string) {
		wantTotal(t, frags, 4*time.Second)
		wantDiscontinuities(t, playlist, 3)
	}},
	{name: "changing resolution", send: func(cam *camera) error {
		ts, err := cam.run(0, 30, tick/25, 40*time.Millisecond, 10, 0)
		if err != nil {
			return err
		}
		cam.sps, cam.i = spsOf(1280, 720), 0 // the next frame is a keyframe with the new SPS
		_, err = cam.run(ts, 30, tick/25, 40*time.Millisecond, 10, 0)
		return err
	}, repairs: map[string]int{"init_change": 1}, check: func(t *testing.T, _ []types.Fragment, playlist string) {
		if maps := regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`).FindAllStringSubmatch(playlist, -1); len(maps) < 2 || maps[0][1] == maps[len(maps)-1][1] {
			t.Errorf("want a second init segment after the SPS change; playlist:\n%s", playlist)
		}
		wantDiscontinuities(t, playlist, 1)
	}},
	{name: "50 Mbit/s burst", send: func(cam *camera) error {
		_, err := cam.run(0, 50, tick/25, 40*time.Millisecond, 25, 250_000) // 250 kB frames at 25 fps
		return err
	}, check: func(t *testing.T, frags []types.Fragment, _ string) {
		var size int64
		for _, f := range frags {
			size += f.FragmentSizeInBytes
		}
		if size < 12_000_000 {
			t.Errorf("stored %d bytes of a 12.5 MB burst", size)
		}
	}},
}

// TestBadCameras publishes each bad camera of the table to its own stream
// while a steady camera publishes to another: the bad one's fragments are
// all readable (positive durations within the limit, GetMediaForFragmentList
// and HLS answer every one), its outcome is the documented one, and the
// steady stream records on without a gap.
func TestBadCameras(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 3*time.Minute)
	am := e.ArchivedMedia()
	from := time.Now().Add(-time.Second)

	steady := newCamera(t, e.RTSPURL("steady"))
	stopSteady := steady.stream(10, 0)

	for _, c := range badCameraCases {
		t.Run(c.name, func(t *testing.T) {
			name := "bad-" + strings.NewReplacer(" ", "-", "/", "").Replace(c.name)
			before := repairs(t, e.URL)
			cam := newCamera(t, e.RTSPURL(name))
			if err := c.send(cam); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			cam.c.Close()
			frags := settledFragments(ctx, t, am, name, from)
			checkReadable(ctx, t, am, name, frags)
			playlist := hlsPlaylist(ctx, t, am, name, from)
			after := repairs(t, e.URL)
			for event, n := range c.repairs {
				if got := after[event] - before[event]; got < n {
					t.Errorf("eddy_recorder_repairs_total{event=%q} rose by %d, want at least %d", event, got, n)
				}
			}
			if c.check != nil {
				c.check(t, frags, playlist)
			}
		})
	}
	if err := stopSteady(); err != nil {
		t.Fatalf("steady camera: %v", err)
	}
	steady.c.Close()
	checkSteady(t, settledFragments(ctx, t, am, "steady", from))
}

// checkSteady asserts the steady camera's fragments follow one another
// without a gap: every GOP (0.4 s) is stored.
func checkSteady(t *testing.T, frags []types.Fragment) {
	t.Helper()
	if len(frags) < 10 {
		t.Fatalf("steady camera: %d fragments", len(frags))
	}
	for i := 1; i < len(frags); i++ {
		prev, cur := frags[i-1], frags[i]
		gap := aws.ToTime(cur.ServerTimestamp).Sub(aws.ToTime(prev.ServerTimestamp)) - time.Duration(prev.FragmentLengthInMilliseconds)*time.Millisecond
		if gap > time.Second {
			t.Errorf("steady camera: %v without a fragment after fragment %d", gap, i-1)
		}
	}
}

// settledFragments lists stream's fragments once the last one is durable
// (the list stops growing).
func settledFragments(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from time.Time) []types.Fragment {
	t.Helper()
	var frags []types.Fragment
	for n := -1; n != len(frags); time.Sleep(500 * time.Millisecond) {
		n = len(frags)
		frags = listAll(ctx, t, am, stream, types.FragmentSelectorTypeServerTimestamp, from, time.Now())
	}
	if len(frags) == 0 {
		t.Fatalf("%s: no fragment", stream)
	}
	return frags
}

// checkReadable asserts every listed fragment lasts more than 0 and at
// most video.max_fragment_duration (10 s), and GetMediaForFragmentList
// returns them all.
func checkReadable(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, frags []types.Fragment) {
	t.Helper()
	nums := make([]string, len(frags))
	for i, f := range frags {
		if d := f.FragmentLengthInMilliseconds; d <= 0 || d > 10_000 {
			t.Errorf("fragment %s lasts %d ms", aws.ToString(f.FragmentNumber), d)
		}
		nums[i] = aws.ToString(f.FragmentNumber)
	}
	out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(stream), Fragments: nums})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Payload.Close()
	r := mkv.NewReader(out.Payload)
	n := 0
	for ; ; n++ {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("GetMediaForFragmentList: MKV fragment %d: %v", n, err)
		}
	}
	if n != len(frags) {
		t.Errorf("GetMediaForFragmentList: %d MKV fragments of %d", n, len(frags))
	}
}

// hlsPlaylistURL returns the URL of the ON_DEMAND media playlist of
// stream's fragments since from.
func hlsPlaylistURL(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from time.Time) string {
	t.Helper()
	to := time.Now()
	out, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream),
		PlaybackMode: types.HLSPlaybackModeOnDemand, HLSFragmentSelector: &types.HLSFragmentSelector{
			FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange:       &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	master := aws.ToString(out.HLSStreamingSessionURL)
	_, _, body := httpGet(t, master)
	media := playlistURIs(master, body)
	if len(media) == 0 {
		t.Fatalf("master playlist without a media playlist:\n%s", body)
	}
	return media[0]
}

// hlsPlaylist returns the ON_DEMAND media playlist of stream's fragments
// since from, having checked every segment answers 200 with media and
// every #EXTINF is positive.
func hlsPlaylist(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from time.Time) string {
	t.Helper()
	u := hlsPlaylistURL(ctx, t, am, stream, from)
	status, _, playlist := httpGet(t, u)
	if status != 200 {
		t.Fatalf("media playlist: %d %s", status, playlist)
	}
	for _, m := range regexp.MustCompile(`#EXTINF:([-0-9.]+),`).FindAllStringSubmatch(playlist, -1) {
		if d, _ := strconv.ParseFloat(m[1], 64); d <= 0 {
			t.Errorf("#EXTINF:%s", m[1])
		}
	}
	for _, seg := range playlistURIs(u, playlist) {
		if status, _, b := httpGet(t, seg); status != 200 || len(b) == 0 {
			t.Errorf("segment %s: %d, %d bytes", seg, status, len(b))
		}
	}
	return playlist
}

// wantTotal asserts the fragments' durations add up to want (±0.5 s):
// jumps of the camera's clock are not stored as time.
func wantTotal(t *testing.T, frags []types.Fragment, want time.Duration) {
	t.Helper()
	var total time.Duration
	for _, f := range frags {
		total += time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond
	}
	if total < want-500*time.Millisecond || total > want+500*time.Millisecond {
		t.Errorf("fragments last %v in all, want %v", total, want)
	}
}

func wantDiscontinuities(t *testing.T, playlist string, n int) {
	t.Helper()
	if got := strings.Count(playlist, "#EXT-X-DISCONTINUITY\n"); got < n {
		t.Errorf("%d discontinuities, want at least %d; playlist:\n%s", got, n, playlist)
	}
}

// repairs reads eddy_recorder_repairs_total by event.
func repairs(t *testing.T, url string) map[string]int {
	t.Helper()
	_, _, body := httpGet(t, url+"/metrics")
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^eddy_recorder_repairs_total\{event="(\w+)"\} (\d+)$`).FindAllStringSubmatch(body, -1) {
		out[m[1]], _ = strconv.Atoi(m[2])
	}
	return out
}

func TestSPSOf(t *testing.T) {
	for _, size := range [][2]int{{1280, 720}, {1920, 1088}, {320, 240}} {
		var sps h264.SPS
		if err := sps.Unmarshal(spsOf(size[0], size[1])); err != nil {
			t.Fatal(err)
		}
		if sps.Width() != size[0] || sps.Height() != size[1] || sps.PicOrderCntType != 2 {
			t.Errorf("SPS of %v: %dx%d, POC type %d", size, sps.Width(), sps.Height(), sps.PicOrderCntType)
		}
	}
}
