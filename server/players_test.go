package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// Two more real players play Eddy's HLS sessions (RFC 8216): VLC 3, with
// its "adaptive" demuxer, and GStreamer's playbin, with hlsdemux.
// ON_DEMAND sessions of both container formats play end to end; LIVE
// sessions, Low-Latency HLS playlists whose EXT-X-PART and
// EXT-X-PRELOAD-HINT tags these players ignore, play while the camera
// publishes. Every assertion is on what the player itself wrote out.

const (
	// playerClip is what an ON_DEMAND test publishes, to play in both
	// container formats: four fragments (2+2+2+1 s).
	playerClip = 7 * time.Second
	// playerLiveRun is how long a player runs against a LIVE session. It
	// starts once the playlist lists three whole segments, where players
	// start (RFC 8216 section 6.3.3; VLC waits for them), and the camera
	// publishes until the player is closed: 6 + 5 s.
	playerLiveRun = 5 * time.Second
)

var playerFormats = []types.ContainerFormat{types.ContainerFormatFragmentedMp4, types.ContainerFormatMpegTs}

// playerOnDemand publishes playerClip to a server of its own and opens an
// ON_DEMAND session over all of it in each of playerFormats.
func playerOnDemand(ctx context.Context, t *testing.T) map[types.ContainerFormat]string {
	t.Helper()
	e := servertest.Start(t)
	_, _, done := publish(ctx, e.RTSPURL("cam"), playerClip, "tcp")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeProducerTimestamp, time.Now().Add(-time.Minute), 4, 5*time.Second)
	if len(frags) != 4 {
		t.Fatalf("%d fragments, want 4", len(frags))
	}
	from, to := *frags[0].ProducerTimestamp, *frags[3].ProducerTimestamp
	urls := map[types.ContainerFormat]string{}
	for _, cf := range playerFormats {
		od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
			PlaybackMode: types.HLSPlaybackModeOnDemand, ContainerFormat: cf,
			HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
				TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
		if err != nil {
			t.Fatal(err)
		}
		urls[cf] = *od.HLSStreamingSessionURL
	}
	return urls
}

// playerLive starts publishing to a server of its own and opens a LIVE
// session (in, for stream "cam") once its media playlist lists three
// whole segments. stop ends the publication.
func playerLive(ctx context.Context, t *testing.T, in kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput) (url string, stop func()) {
	t.Helper()
	e := servertest.Start(t)
	pubCtx, cancel := context.WithCancel(ctx)
	_, _, done := publish(pubCtx, e.RTSPURL("cam"), 20*time.Second, "tcp") // the whole clip
	stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("publish: %v", err)
		}
	}
	am := e.ArchivedMedia()
	in.StreamName = aws.String("cam")
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		live, err := am.GetHLSStreamingSessionURL(ctx, &in)
		if err != nil {
			continue
		}
		_, _, master := httpGet(t, *live.HLSStreamingSessionURL)
		if uris := playlistURIs(*live.HLSStreamingSessionURL, master); len(uris) > 0 {
			if _, _, media := httpGet(t, uris[0]); strings.Count(media, "#EXTINF:") >= 3 {
				return *live.HLSStreamingSessionURL, stop
			}
		}
	}
	stop()
	t.Fatal("no LIVE session listing three whole segments within 15 s")
	return "", nil
}

// interruptible makes cmd end, when its context is done, the way a viewer
// closes a player: SIGINT, then SIGKILL 5 s later. Wait then reports the
// context's error if the player exited with status 0.
func interruptible(cmd *exec.Cmd) *exec.Cmd {
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// closedCleanly reports whether a player run by interruptible exited with
// status 0, by itself or when interrupted.
func closedCleanly(err error) bool {
	return err == nil || errors.Is(err, context.DeadlineExceeded)
}

// --- VLC

func needVLC(t *testing.T) {
	t.Helper()
	mediatest.RequireTool(t, "cvlc")
	if os.Geteuid() == 0 {
		mediatest.RequireTool(t, "setpriv")
	}
	mediatest.RequireTool(t, "ffmpeg", "ffprobe") // ffprobe reads VLC's output
}

// vlcCommand runs cvlc headless with args. VLC refuses to run as root
// ("VLC is not supposed to be run as root. Sorry."; vlc-wrapper only
// drops to the real uid), so as root it runs as nobody through setpriv
// (util-linux). It writes to stdout, which needs no file permissions.
func vlcCommand(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	argv := append([]string{"--intf", "dummy", "--no-dbus", "--vout", "dummy", "--aout", "dummy"}, args...)
	if os.Geteuid() != 0 {
		return exec.CommandContext(ctx, "cvlc", argv...)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("VLC runs as nobody when the tests run as root: %v", err)
	}
	cmd := exec.CommandContext(ctx, "setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "cvlc"}, argv...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.HomeDir}
	return cmd
}

// vlcSout remuxes what VLC plays, without transcoding, to MPEG-TS on
// stdout.
const vlcSout = "#std{access=file,mux=ts,dst=-}"

// vlcErrors returns VLC's error messages, less the known harmless ones.
func vlcErrors(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		switch {
		case !strings.Contains(l, " error: "):
		case strings.Contains(l, "main interface error: no suitable interface module"),
			strings.Contains(l, `main libvlc error: interface "globalhotkeys,none" initialization failed`):
			// No X display for the global hotkeys interface.
		case strings.Contains(l, "libdvbpsi error (PSI decoder): TS duplicate (received 0, expected 1) for PID"):
			// Every MPEG_TS segment starts its PAT and PMT at continuity
			// counter 0 (hls/ts.go); VLC reads consecutive segments as one
			// stream and drops the repeated, identical tables.
		default:
			out = append(out, l)
		}
	}
	return out
}

// playerOutput is what ffprobe reads from a player's output file.
type playerOutput struct {
	codecs   []string // sorted
	duration float64  // seconds
	frames   int      // video frames
}

func probePlayerOutput(ctx context.Context, file string) (playerOutput, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames",
		"-show_entries", "format=duration:stream=codec_type,codec_name,nb_read_frames", "-of", "json", file)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return playerOutput{}, fmt.Errorf("ffprobe: %v: %s", err, stderr.String())
	}
	var v struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return playerOutput{}, fmt.Errorf("ffprobe: %v: %s", err, out)
	}
	var p playerOutput
	for _, s := range v.Streams {
		p.codecs = append(p.codecs, s.CodecName)
		if s.CodecType == "video" {
			p.frames, _ = strconv.Atoi(s.NbReadFrames)
		}
	}
	slices.Sort(p.codecs)
	p.duration, _ = strconv.ParseFloat(v.Format.Duration, 64)
	return p, nil
}

// runVLC runs cvlc with args, for at most run when run is not 0, its
// output going to a file that it then probes and checks.
func runVLC(ctx context.Context, t *testing.T, run time.Duration, args ...string) (playerOutput, string, error) {
	t.Helper()
	cmdCtx := ctx
	if run > 0 {
		var cancel context.CancelFunc
		cmdCtx, cancel = context.WithTimeout(ctx, run)
		defer cancel()
	}
	out := filepath.Join(t.TempDir(), "vlc.ts")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := interruptible(vlcCommand(cmdCtx, t, append(args, "--sout", vlcSout)...))
	cmd.Stdout, cmd.Stderr = f, &stderr
	start := time.Now()
	werr := cmd.Run()
	t.Logf("cvlc ran for %v: %v", time.Since(start).Round(time.Millisecond), werr)
	p, err := probePlayerOutput(ctx, out)
	if err != nil {
		t.Fatalf("VLC's output: %v\ncvlc: %v\n%s", err, werr, stderr.String())
	}
	t.Logf("VLC wrote %v, %.3f s, %d video frames", p.codecs, p.duration, p.frames)
	if errs := vlcErrors(stderr.String()); len(errs) > 0 {
		t.Errorf("cvlc reported errors:\n%s", stderr.String())
	}
	if !slices.Equal(p.codecs, []string{"aac", "h264"}) {
		t.Errorf("VLC's output has codecs %v, want aac and h264:\n%s", p.codecs, stderr.String())
	}
	return p, stderr.String(), werr
}

// TestVLCPlaysHLS plays ON_DEMAND sessions of both container formats end
// to end and a LIVE session while the camera publishes, remuxing what
// VLC's adaptive demuxer reads to MPEG-TS and probing that.
func TestVLCPlaysHLS(t *testing.T) {
	needVLC(t)
	t.Parallel()
	t.Run("ON_DEMAND", func(t *testing.T) {
		t.Parallel()
		ctx := servertest.Context(t, time.Minute)
		urls := playerOnDemand(ctx, t)
		for _, cf := range playerFormats {
			t.Run(string(cf), func(t *testing.T) {
				p, stderr, err := runVLC(ctx, t, 0, "--play-and-exit", urls[cf])
				if err != nil {
					t.Fatalf("cvlc: %v:\n%s", err, stderr)
				}
				// VLC's TS muxer holds back the last ~0.2 s at the end of
				// input, whatever the source.
				if d := p.duration - playerClip.Seconds(); d < -0.5 || d > 0.5 {
					t.Errorf("VLC's output lasts %.3f s, want %v ± 0.5 s:\n%s", p.duration, playerClip, stderr)
				}
			})
		}
	})
	// VLC 3.0's adaptive demuxer restarts its MP4 demuxer at every
	// EXT-X-DISCONTINUITY without the init segment ("mp4 stream error: no
	// moov before mdat and the stream is not seekable", even when the
	// playlist repeats EXT-X-MAP), so it cannot play the default LIVE
	// session (DiscontinuityMode ALWAYS); ON_DISCONTINUITY marks none in a
	// continuous publication.
	t.Run("LIVE_FRAGMENTED_MP4", func(t *testing.T) {
		t.Parallel()
		ctx := servertest.Context(t, time.Minute)
		url, stop := playerLive(ctx, t, kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{
			DiscontinuityMode: types.HLSDiscontinuityModeOnDiscontinuity})
		defer stop()
		p, stderr, err := runVLC(ctx, t, playerLiveRun, url)
		if !closedCleanly(err) {
			t.Errorf("cvlc: %v:\n%s", err, stderr)
		}
		if p.duration < (playerLiveRun / 2).Seconds() {
			t.Errorf("VLC wrote %.3f s in %v, want at least half of it:\n%s", p.duration, playerLiveRun, stderr)
		}
	})
}

// --- GStreamer

// gstDecoded is what gst-launch-1.0's playbin decoded, read from the files
// its sinks wrote.
type gstDecoded struct {
	width, height int
	frames        int
	video, audio  time.Duration
}

// gstAudioRate is the rate of the raw audio file gstCommand writes.
const gstAudioRate = 48000

// gstCommand plays url with playbin, its sinks writing the decoded media
// to dir: video as YUV4MPEG2, converted to 4:2:2 because y4menc writes
// avdec_h264's own I420 buffers with their padding; audio as raw S16LE
// mono at gstAudioRate. -t prints the tags the sinks get, codecs
// included. (-v prints negotiated caps, but drops some of them.)
// ON_DEMAND plays as fast as it decodes. LIVE plays in real time, as a
// viewer does, and buffers 1 s instead of playbin's default 5 s, which a
// player at the live edge of 2 s segments cannot fill: gst-launch-1.0
// then keeps the pipeline paused ("buffering... 56%").
func gstCommand(ctx context.Context, url, dir string, live bool) *exec.Cmd {
	sink, args := "sync=false", []string{}
	if live {
		sink, args = "sync=true", []string{"buffer-duration=1000000000"}
	}
	args = append([]string{"-t", "playbin", "uri=" + url,
		"video-sink=tee name=v ! queue ! fakesink " + sink + // for the tags, which y4menc drops
			" v. ! queue ! videoconvert ! video/x-raw,format=Y42B ! y4menc ! filesink " + sink + " location=" + filepath.Join(dir, "video.y4m"),
		"audio-sink=audioconvert ! audioresample ! audio/x-raw,format=S16LE,layout=interleaved,channels=1,rate=" + strconv.Itoa(gstAudioRate) +
			" ! filesink " + sink + " location=" + filepath.Join(dir, "audio.s16")},
		args...)
	return exec.CommandContext(ctx, "gst-launch-1.0", args...)
}

// readY4M returns the size and frame rate of a 4:2:2 YUV4MPEG2 file and
// how many frames it holds.
func readY4M(b []byte) (width, height, frames int, frame time.Duration, err error) {
	header, body, ok := bytes.Cut(b, []byte("\n"))
	fields := strings.Fields(string(header))
	if !ok || len(fields) == 0 || fields[0] != "YUV4MPEG2" {
		return 0, 0, 0, 0, fmt.Errorf("no YUV4MPEG2 header in %d bytes", len(b))
	}
	var num, den int
	for _, f := range fields[1:] {
		switch f[0] {
		case 'W':
			width, _ = strconv.Atoi(f[1:])
		case 'H':
			height, _ = strconv.Atoi(f[1:])
		case 'F':
			n, d, _ := strings.Cut(f[1:], ":")
			num, _ = strconv.Atoi(n)
			den, _ = strconv.Atoi(d)
		case 'C':
			if f != "C422" {
				return 0, 0, 0, 0, fmt.Errorf("chroma %s, want C422", f)
			}
		}
	}
	if width*height*num*den == 0 {
		return 0, 0, 0, 0, fmt.Errorf("header %q", header)
	}
	size := len("FRAME\n") + width*height*2
	for ; len(body) > 0; frames++ {
		if len(body) < size || !bytes.HasPrefix(body, []byte("FRAME\n")) {
			return 0, 0, 0, 0, fmt.Errorf("frame %d: %d bytes left, want FRAME and %d", frames, len(body), size)
		}
		body = body[size:]
	}
	return width, height, frames, time.Second * time.Duration(den) / time.Duration(num), nil
}

// gstTail is the end of gst-launch-1.0's output, for failure messages.
func gstTail(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return strings.Join(lines[max(len(lines)-30, 0):], "\n")
}

// gstCheck checks gst-launch-1.0's output (no ERROR or WARNING; H.264 and
// AAC tags) and returns what it decoded.
func gstCheck(t *testing.T, log, dir string) gstDecoded {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		if strings.HasPrefix(l, "ERROR: ") || strings.HasPrefix(l, "WARNING: ") {
			t.Errorf("gst-launch-1.0 reported: %s", l)
		}
	}
	for _, c := range []string{"video codec: H.264", "audio codec: MPEG-4 AAC"} {
		if !strings.Contains(log, c) {
			t.Errorf("gst-launch-1.0 found no tag %q:\n%s", c, gstTail(log))
		}
	}
	vb, err := os.ReadFile(filepath.Join(dir, "video.y4m"))
	if err != nil {
		t.Fatalf("%v:\n%s", err, gstTail(log))
	}
	ab, err := os.ReadFile(filepath.Join(dir, "audio.s16"))
	if err != nil {
		t.Fatalf("%v:\n%s", err, gstTail(log))
	}
	var d gstDecoded
	var frame time.Duration
	if d.width, d.height, d.frames, frame, err = readY4M(vb); err != nil {
		t.Fatalf("GStreamer's video: %v:\n%s", err, gstTail(log))
	}
	d.video = time.Duration(d.frames) * frame
	d.audio = time.Duration(len(ab)/2) * time.Second / gstAudioRate
	t.Logf("GStreamer decoded %d frames of %dx%d video (%v) and %v of audio", d.frames, d.width, d.height, d.video, d.audio)
	return d
}

// TestGStreamerPlaysHLS plays ON_DEMAND sessions of both container formats
// to EOS and the default LIVE session while the camera publishes, with
// playbin decoding to files.
func TestGStreamerPlaysHLS(t *testing.T) {
	mediatest.RequireTool(t, "gst-launch-1.0")
	t.Parallel()
	t.Run("ON_DEMAND", func(t *testing.T) {
		t.Parallel()
		ctx := servertest.Context(t, time.Minute)
		urls := playerOnDemand(ctx, t)
		for _, cf := range playerFormats {
			t.Run(string(cf), func(t *testing.T) {
				dir := t.TempDir()
				start := time.Now()
				out, err := gstCommand(ctx, urls[cf], dir, false).CombinedOutput()
				log := string(out)
				if err != nil {
					t.Fatalf("gst-launch-1.0: %v:\n%s", err, gstTail(log))
				}
				t.Logf("gst-launch-1.0 played the session in %v", time.Since(start).Round(time.Millisecond))
				if !strings.Contains(log, `Got EOS from element "playbin0"`) {
					t.Errorf("gst-launch-1.0 did not reach EOS:\n%s", gstTail(log))
				}
				d := gstCheck(t, log, dir)
				if d.width != 320 || d.height != 240 {
					t.Errorf("decoded %dx%d video, want 320x240", d.width, d.height)
				}
				if (d.video-playerClip).Abs() > 500*time.Millisecond || (d.audio-playerClip).Abs() > 500*time.Millisecond {
					t.Errorf("decoded video for %v and audio for %v, want %v ± 0.5 s each", d.video, d.audio, playerClip)
				}
			})
		}
	})
	t.Run("LIVE_FRAGMENTED_MP4", func(t *testing.T) {
		t.Parallel()
		ctx := servertest.Context(t, time.Minute)
		url, stop := playerLive(ctx, t, kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{})
		defer stop()
		runCtx, cancel := context.WithTimeout(ctx, playerLiveRun)
		defer cancel()
		dir := t.TempDir()
		cmd := interruptible(gstCommand(runCtx, url, dir, true))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		log := out.String()
		if !closedCleanly(err) {
			t.Errorf("gst-launch-1.0: %v:\n%s", err, gstTail(log))
		}
		d := gstCheck(t, log, dir)
		if d.video < playerLiveRun/2 || d.audio < playerLiveRun/2 {
			t.Errorf("decoded video for %v and audio for %v in %v, want at least half of it each", d.video, d.audio, playerLiveRun)
		}
	})
}
