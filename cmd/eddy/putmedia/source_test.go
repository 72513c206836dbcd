package putmedia

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// hevcOpusClip writes a Matroska file of H.265 (a keyframe every second)
// and Opus, made by ffmpeg with libx265 and libopus, into dir.
func hevcOpusClip(t *testing.T, dir string, seconds int) string {
	t.Helper()
	mediatest.RequireTool(t, "ffmpeg")
	path := filepath.Join(dir, "hevc-opus.mkv")
	out, err := exec.Command("ffmpeg", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", time.Duration(seconds*int(time.Second)).String(),
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:min-keyint=25:bframes=0:log-level=error", "-pix_fmt", "yuv420p",
		"-c:a", "libopus", "-b:a", "32k", "-f", "matroska", path).CombinedOutput()
	if err != nil {
		mediatest.Missing(t, "ffmpeg cannot encode H.265 + Opus: "+err.Error()+": "+string(out))
	}
	return path
}

// TestProducerMatroskaSource: a Matroska file of H.265 and Opus is sent
// with its tracks as they are, re-cut to one cluster per GOP.
func TestProducerMatroskaSource(t *testing.T) {
	clip := hevcOpusClip(t, t.TempDir(), 4)
	srv := newFakeServer(t, nil)
	acks := &ackLog{}
	p := testProducer(t, srv, acks)
	p.Source = clip
	run(t, p)
	frags := srv.fragments()
	if len(frags) != 4 {
		t.Fatalf("%d fragments, want 4 (one per 1 s GOP)", len(frags))
	}
	for i, f := range frags {
		tr := f.Frag.Tracks
		if len(tr) != 2 || tr[0].CodecID != mkv.CodecH265 || len(tr[0].CodecPrivate) < 23 || tr[0].Width != 320 ||
			tr[1].CodecID != mkv.CodecOpus || tr[1].SampleRate != 48000 || string(tr[1].CodecPrivate[:8]) != "OpusHead" {
			t.Fatalf("fragment %d: tracks %+v", i, tr)
		}
		fr := f.Frag.Frames[0]
		if fr.Track != tr[0].Number || !fr.Key {
			t.Fatalf("fragment %d starts with a frame of track %d, key %v", i, fr.Track, fr.Key)
		}
		video := 0
		for _, fr := range f.Frag.Frames {
			if fr.Track == tr[0].Number {
				video++
			}
		}
		if video != 25 {
			t.Errorf("fragment %d: %d video frames, want 25", i, video)
		}
		if i > 0 {
			if d := f.Producer.Sub(frags[i-1].Producer); d < 990*time.Millisecond || d > 1010*time.Millisecond {
				t.Errorf("fragment %d: %v after the previous, want 1 s", i, d)
			}
		}
	}
	if n := len(acks.of(EventPersisted)); n != 4 {
		t.Errorf("%d PERSISTED acks, want 4", n)
	}
}

// TestProducerRTSPSource: a camera pulled over RTSP (the server's own
// RTSP, fed by an RTSP publisher of the test clip) is cut into GOPs with
// the producer's wall clock from the RTCP sender reports.
func TestProducerRTSPSource(t *testing.T) {
	env := servertest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &rtspclient.FilePublisher{URL: env.RTSPURL("cam"), File: testClip, Loop: true}
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(ctx) }()

	srv := newFakeServer(t, nil)
	acks := &ackLog{}
	p := testProducer(t, srv, acks)
	p.Source = env.RTSPURL("cam")
	p.Duration = 5 * time.Second
	p.pace = nil
	start := time.Now()
	run(t, p)
	cancel()
	if err := <-pubDone; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("publisher: %v", err)
	}
	frags := srv.fragments()
	if len(frags) < 2 || len(frags) > 3 {
		t.Fatalf("%d fragments from 5 s of a 2 s GOP camera", len(frags))
	}
	for i, f := range frags {
		tr := f.Frag.Tracks
		if len(tr) != 2 || tr[0].CodecID != mkv.CodecH264 || tr[0].Width != 320 || tr[1].CodecID != mkv.CodecAAC {
			t.Fatalf("fragment %d: tracks %+v", i, tr)
		}
		if fr := f.Frag.Frames[0]; fr.Track != 1 || !fr.Key {
			t.Fatalf("fragment %d starts with a frame of track %d, key %v", i, fr.Track, fr.Key)
		}
		if d := f.Producer.Sub(start); d < -3*time.Second || d > 10*time.Second {
			t.Errorf("fragment %d: producer time %v is %v from the start", i, f.Producer, d)
		}
		if i > 0 {
			if d := f.Producer.Sub(frags[i-1].Producer); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
				t.Errorf("fragment %d: %v after the previous, want 2 s", i, d)
			}
		}
	}
}
