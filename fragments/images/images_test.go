package images_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/media/mediatest"
)

// The colour clip (mediatest.ColourSource) at 25 fps, a keyframe every 12
// frames, with B-frames so that decode and presentation order differ.
const (
	fps = 25
	gop = 12
)

var t0 = time.Unix(1_750_000_000, 0)

// colourClip makes seconds of mediatest's colour clip with ffmpeg as
// fragmented MP4 (no edit list), cut on keyframes, or also every cut
// seconds when cut>0 (fragments that do not start on a keyframe).
func colourClip(t *testing.T, w, h int, seconds float64, cut float64) []byte {
	return clip(t, mediatest.ColourSource(w, h, fps, seconds), cut)
}

// h265 makes clip encode H.265 (libx265) instead of H.264.
var h265 = []string{"-c:v", "libx265", "-tag:v", "hvc1", "-x265-params", "log-level=error:rc-lookahead=5"}

// clip encodes the lavfi source src as colourClip does.
func clip(t *testing.T, src string, cut float64, codec ...string) []byte {
	t.Helper()
	mediatest.RequireTool(t, "ffmpeg")
	flags := "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets"
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src,
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "2", "-qp", "8", "-g", fmt.Sprint(gop), "-keyint_min", fmt.Sprint(gop),
		"-sc_threshold", "0", "-pix_fmt", "yuv420p", "-use_editlist", "0"}
	if cut > 0 {
		args = append(args, "-frag_duration", fmt.Sprint(int(cut*1e6)))
	}
	args = append(args, codec...) // the last -c:v wins
	args = append(args, "-movflags", flags, "-f", "mp4", "pipe:1")
	out, err := exec.Command("ffmpeg", args...).Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("ffmpeg: %v: %s", err, stderr)
	}
	return out
}

// storeClip splits the fMP4 into its init segment and moof+mdat
// fragments and appends them to st, frame k at producer time
// t0 + k/fps; server time is producer time plus an hour.
func storeClip(t *testing.T, st *fragments.Store, clip []byte) {
	t.Helper()
	var initB []byte
	var frags [][]byte
	for b := clip; len(b) >= 8; {
		n := int(binary.BigEndian.Uint32(b))
		typ := string(b[4:8])
		switch {
		case typ == "moof":
			frags = append(frags, b[:n])
		case typ == "mdat" && len(frags) > 0:
			frags[len(frags)-1] = clip[len(clip)-len(b)-len(frags[len(frags)-1]) : len(clip)-len(b)+n]
		case len(frags) == 0:
			initB = append(initB, b[:n]...)
		}
		b = b[n:]
	}
	init, err := cmaf.ParseInit(initB)
	if err != nil {
		t.Fatal(err)
	}
	scale := int64(init.Tracks[0].TimeScale)
	sum := sha256.Sum256(initB)
	is := &fragments.InitSegment{ID: fragments.InitID(sum[:16]), Bytes: initB}
	var pts0 int64 = -1
	decoded := 0 // samples before this fragment, in decode order
	for _, m := range frags {
		parts, err := cmaf.Demux(m)
		if err != nil {
			t.Fatal(err)
		}
		pt := parts[0].Tracks[0]
		pts := int64(pt.BaseTime) + int64(pt.Samples[0].PTSOffset)
		if pts0 < 0 {
			pts0 = pts
		}
		var dur int64
		for _, s := range pt.Samples {
			dur += int64(s.Duration)
		}
		at := t0.UnixNano() + (pts-pts0)*1e9/scale
		// The clip's GOPs are closed and fixed: a keyframe every gop samples
		// (mediacommon does not read trun's first-sample flags).
		f := &fragments.Fragment{ServerTime: at + int64(time.Hour), ProducerTime: at, Duration: dur * 1e9 / scale,
			Keyframe: decoded%gop == 0, InitID: is.ID, Media: bytes.Clone(m)}
		decoded += len(pt.Samples)
		if _, err := st.Append(is, f); err != nil {
			t.Fatal(err)
		}
	}
}

func newStore(t *testing.T) *fragments.Store {
	t.Helper()
	clk := datastreamstest.NewClock(t0)
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func decodeImage(t *testing.T, format string, b []byte) image.Image {
	t.Helper()
	var img image.Image
	var err error
	if format == "PNG" {
		img, err = png.Decode(bytes.NewReader(b))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(b))
	}
	if err != nil {
		t.Fatalf("%s image does not decode: %v", format, err)
	}
	return img
}

// TestFramesContent asks for times inside GOPs (not only keyframes) on
// both clocks, from fragments cut on keyframes and from GOPs cut into
// several fragments, and checks each image is the frame at its time.
func TestFramesContent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cut   float64
		clock fragments.IndexTime
		codec []string
	}{
		{"keyframe-fragments/producer", 0, fragments.IndexProducerTime, nil},
		{"keyframe-fragments/server", 0, fragments.IndexServerTime, nil},
		{"cut-GOPs/producer", 0.2, fragments.IndexProducerTime, nil},
		{"H.265/producer", 0, fragments.IndexProducerTime, h265},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			storeClip(t, st, clip(t, mediatest.ColourSource(160, 120, fps, 4), tc.cut, tc.codec...))
			reg := prometheus.NewRegistry()
			s := images.New(images.Options{Workers: 2, Registerer: reg})
			if err := s.Available(); err != nil {
				t.Fatal(err)
			}
			origin := t0
			if tc.clock == fragments.IndexServerTime {
				origin = t0.Add(time.Hour)
			}
			// Frames 0, 1, 5, 11 (last of GOP 0), 13, 18, 30, 47, 70, 99; each
			// asked a little off its exact time, on the nearer side.
			ks := []int{0, 1, 5, 11, 13, 18, 30, 47, 70, 99}
			var times []time.Time
			for i, k := range ks {
				off := time.Duration([]int{0, 9, -9}[i%3]) * time.Millisecond
				times = append(times, origin.Add(time.Duration(k)*time.Second/fps+off))
			}
			for _, format := range []string{"JPEG", "PNG"} {
				res := s.Frames(context.Background(), st, tc.clock, times, images.Spec{Format: format, Quality: 90})
				for i, r := range res {
					if r.Err != nil {
						t.Fatalf("%s frame %d: %v", format, ks[i], r.Err)
					}
					img := decodeImage(t, format, r.Image)
					if img.Bounds().Dx() != 160 || img.Bounds().Dy() != 120 {
						t.Errorf("frame %d: %v, want the source size 160x120", ks[i], img.Bounds())
					}
					if got, want := mediatest.AverageColour(img), mediatest.FrameColour(ks[i]); !mediatest.ColourNear(got, want, mediatest.ColourTolerance) {
						t.Errorf("%s at frame %d's time: colour %v, want %v (frame %d)", format, ks[i], got, want, ks[i])
					}
				}
			}
		})
	}
}

// TestFramesSizes checks the Kinesis Video size rules and JPEG quality.
func TestFramesSizes(t *testing.T) {
	st := newStore(t)
	storeClip(t, st, clip(t, "testsrc2=s=320x180:r=25:d=1", 0))
	s := images.New(images.Options{})
	at := []time.Time{t0.Add(200 * time.Millisecond)}
	for _, tc := range []struct {
		w, h, wantW, wantH int
	}{
		{0, 0, 320, 180},
		{100, 100, 100, 100}, // both: stretched
		{160, 0, 160, 90},    // width: height from the aspect ratio
		{0, 45, 80, 45},      // height: width from the aspect ratio
	} {
		r := s.Frames(context.Background(), st, fragments.IndexProducerTime, at, images.Spec{Format: "JPEG", Width: tc.w, Height: tc.h})[0]
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		b := decodeImage(t, "JPEG", r.Image).Bounds()
		if b.Dx() != tc.wantW || b.Dy() != tc.wantH {
			t.Errorf("Width %d Height %d: %dx%d, want %dx%d", tc.w, tc.h, b.Dx(), b.Dy(), tc.wantW, tc.wantH)
		}
	}
	lo := s.Frames(context.Background(), st, fragments.IndexProducerTime, at, images.Spec{Format: "JPEG", Quality: 5})[0]
	hi := s.Frames(context.Background(), st, fragments.IndexProducerTime, at, images.Spec{Format: "JPEG", Quality: 100})[0]
	if lo.Err != nil || hi.Err != nil || len(lo.Image) >= len(hi.Image) {
		t.Errorf("JPEG quality 5: %d bytes (%v), quality 100: %d bytes (%v): want fewer at 5", len(lo.Image), lo.Err, len(hi.Image), hi.Err)
	}
}

// TestFramesErrors: times outside the stored fragments are NO_MEDIA,
// damaged media is MEDIA_ERROR, and without ffmpeg every time carries the
// error saying what to install.
func TestFramesErrors(t *testing.T) {
	st := newStore(t)
	storeClip(t, st, colourClip(t, 160, 120, 1, 0))
	s := images.New(images.Options{})
	times := []time.Time{t0.Add(-time.Second), t0.Add(100 * time.Millisecond), t0.Add(5 * time.Second)}
	res := s.Frames(context.Background(), st, fragments.IndexProducerTime, times, images.Spec{Format: "PNG"})
	if !errors.Is(res[0].Err, images.ErrNoMedia) || res[1].Err != nil || !errors.Is(res[2].Err, images.ErrNoMedia) {
		t.Errorf("before, inside, after the clip: %v, %v, %v; want NO_MEDIA, an image, NO_MEDIA", res[0].Err, res[1].Err, res[2].Err)
	}

	// A fragment whose samples are garbage: MEDIA_ERROR.
	bad := newStore(t)
	clip := colourClip(t, 160, 120, 1, 0)
	storeClip(t, bad, garble(clip))
	res = s.Frames(context.Background(), bad, fragments.IndexProducerTime, times[1:2], images.Spec{Format: "JPEG"})
	if !errors.Is(res[0].Err, images.ErrMediaError) {
		t.Errorf("garbled media: %v, want MEDIA_ERROR", res[0].Err)
	}

	missing := images.New(images.Options{FFmpeg: "/nonexistent/ffmpeg"})
	if err := missing.Available(); err == nil || !bytes.Contains([]byte(err.Error()), []byte("apt-get install ffmpeg")) {
		t.Errorf("Available without ffmpeg: %v, want what to install", err)
	}
	res = missing.Frames(context.Background(), st, fragments.IndexProducerTime, times[1:2], images.Spec{Format: "JPEG"})
	if res[0].Err != missing.Available() {
		t.Errorf("Frames without ffmpeg: %v", res[0].Err)
	}
}

// garble overwrites the mdat payloads of an fMP4 with a pattern that is
// no H.264, keeping every box's size.
func garble(clip []byte) []byte {
	out := bytes.Clone(clip)
	for b := out; len(b) >= 8; {
		n := int(binary.BigEndian.Uint32(b))
		if string(b[4:8]) == "mdat" {
			for i := 8; i < n; i++ {
				b[i] = byte(i*7) | 0x80
			}
		}
		b = b[n:]
	}
	return out
}

// TestFramesCancel: a cancelled context ends the decodes at once.
func TestFramesCancel(t *testing.T) {
	st := newStore(t)
	storeClip(t, st, colourClip(t, 160, 120, 1, 0))
	s := images.New(images.Options{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := s.Frames(ctx, st, fragments.IndexProducerTime, []time.Time{t0}, images.Spec{Format: "JPEG"})
	if !errors.Is(res[0].Err, context.Canceled) {
		t.Errorf("cancelled: %v", res[0].Err)
	}
}

// TestFramesKillsOnCancel: a decode still running when the caller's
// context ends is killed and waited for (no process left, no zombie).
func TestFramesKillsOnCancel(t *testing.T) {
	st := newStore(t)
	storeClip(t, st, colourClip(t, 160, 120, 1, 0))
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// A stand-in for ffmpeg that never answers.
	script := filepath.Join(dir, "ffmpeg")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := images.New(images.Options{FFmpeg: script})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res := s.Frames(ctx, st, fragments.IndexProducerTime, []time.Time{t0.Add(100 * time.Millisecond)}, images.Spec{Format: "JPEG"})
	if took := time.Since(begin); !errors.Is(res[0].Err, context.DeadlineExceeded) || took > 5*time.Second {
		t.Fatalf("after %v: %v, want the context's error at once", took, res[0].Err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strings.TrimSpace(string(b))); !os.IsNotExist(err) {
		status, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/status")
		t.Errorf("the decoder process %s is still there: %s", strings.TrimSpace(string(b)), status)
	}
}
