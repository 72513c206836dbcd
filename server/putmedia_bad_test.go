package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// clipFragments is the test clip as Matroska clusters (ffmpeg, one per
// 2 s GOP), to rewrite into bad uploads.
func clipFragments(t *testing.T, seconds int) []*mkv.Fragment {
	t.Helper()
	file := filepath.Join(t.TempDir(), "clip.mkv")
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", testClip, "-t", fmt.Sprint(seconds), "-c", "copy",
		"-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r := mkv.NewReader(bytes.NewReader(data))
	r.EmitOnClusterEnd = true
	var fs []*mkv.Fragment
	for {
		f, err := r.Next()
		if err == io.EOF {
			return fs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Frames) > 0 {
			f.PreTags = nil // ffmpeg's global tags: none of the cases'
			fs = append(fs, f)
		}
	}
}

// writeDocs writes fragments as an upload: one Matroska document each
// (EBML header, Segment, Info, the same Tracks, Tags, Cluster).
func writeDocs(t *testing.T, fs []*mkv.Fragment) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, f := range fs {
		if err := mkv.WriteFragment(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// cloneFragment copies f's frames (and tracks) so a case can change them.
func cloneFragment(f *mkv.Fragment) *mkv.Fragment {
	c := *f
	c.Frames = slices.Clone(f.Frames)
	c.Tracks = slices.Clone(f.Tracks)
	return &c
}

// TestPutMediaBadInput: each kind of bad upload gets its ERROR ack with
// the Kinesis Video ErrorId, and nothing of the bad cluster is stored: a
// bad fragment is skipped and the session goes on (the clusters after it
// are PERSISTED), while an upload that cannot be read on (garbage, a
// truncated or unreadable body, tracks that change) ends with its error
// and keeps the fragments acknowledged before.
func TestPutMediaBadInput(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	e := servertest.Start(t)
	src := clipFragments(t, 10) // 5 clusters
	if len(src) != 5 {
		t.Fatalf("%d clusters, want 5", len(src))
	}
	video, audio := src[0].Frames[1].Track, src[0].Frames[0].Track // ffmpeg puts an audio block first
	if src[0].Tracks[trackIndex(src[0].Tracks, video)].Type != mkv.Video {
		video, audio = audio, video
	}
	rewrite := func(i int, fn func(f *mkv.Fragment)) func([]*mkv.Fragment) []byte {
		return func(fs []*mkv.Fragment) []byte {
			fs = slices.Clone(fs)
			fs[i] = cloneFragment(fs[i])
			fn(fs[i])
			return writeDocs(t, fs)
		}
	}
	cases := []struct {
		name string
		body func([]*mkv.Fragment) []byte
		// want is each cluster's outcome ("P": PERSISTED, "E n":
		// ERROR n, "": nothing, as the upload ended before), or the
		// session's one error ack when no cluster was read.
		want []string
	}{
		{"garbage", func([]*mkv.Fragment) []byte { return bytes.Repeat([]byte("not matroska "), 1000) },
			[]string{"ERROR 4006"}},
		{"cluster not starting on a keyframe", rewrite(1, func(f *mkv.Fragment) {
			for i := range f.Frames {
				if f.Frames[i].Track == video {
					f.Frames = slices.Delete(f.Frames, i, i+1) // the keyframe
					break
				}
			}
		}), []string{"P", "ERROR 4006", "P", "P", "P"}},
		{"timecode going backwards", rewrite(2, func(f *mkv.Fragment) {
			f.Timecode -= 1500 * time.Millisecond // into the previous cluster's frames
		}), []string{"P", "P", "ERROR 4004", "P", "P"}},
		{"second track appearing mid-stream", rewrite(2, func(f *mkv.Fragment) {
			extra := f.Tracks[trackIndex(f.Tracks, audio)]
			extra.Number, extra.UID = 3, 3
			f.Tracks = append(f.Tracks, extra)
			for _, fr := range slices.Clone(f.Frames) {
				if fr.Track == audio {
					fr.Track = 3
					f.Frames = append(f.Frames, fr)
				}
			}
			slices.SortStableFunc(f.Frames, func(a, b mkv.Frame) int { return int(a.Time - b.Time) })
		}), []string{"P", "P", "ERROR 4010", "", ""}},
		{"frames missing for a track", rewrite(1, func(f *mkv.Fragment) {
			f.Frames = slices.DeleteFunc(f.Frames, func(fr mkv.Frame) bool { return fr.Track == audio })
		}), []string{"P", "ERROR 4011", "P", "P", "P"}},
		{"more than 10 tags", rewrite(1, func(f *mkv.Fragment) {
			for i := range 11 {
				f.PreTags = append(f.PreTags, mkv.Tag{Name: fmt.Sprintf("tag%d", i), Value: "v"})
			}
		}), []string{"P", "ERROR 4009", "P", "P", "P"}},
		{"fragment over 10 s", rewrite(1, func(f *mkv.Fragment) {
			last := f.Frames[len(f.Frames)-1]
			last.Time = 10500 * time.Millisecond
			f.Frames = append(f.Frames, last)
		}), []string{"P", "ERROR 4002", "P", "P", "P"}},
		{"truncated upload", func(fs []*mkv.Fragment) []byte {
			head := writeDocs(t, fs[:2])
			third := writeDocs(t, fs[2:3])
			return append(head, third[:len(third)/2]...)
		}, []string{"P", "P", "ERROR 4000", "", ""}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := servertest.Context(t, 60*time.Second)
			stream := fmt.Sprintf("pm-bad-%d", i)
			createVideoStream(ctx, t, e.KinesisVideo(), stream)
			base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", start: unixSeconds(base)}, bytes.NewReader(c.body(src)))
			if err != nil {
				t.Fatal(err)
			}
			if s.Resp.StatusCode != 200 {
				t.Fatalf("status %d", s.Resp.StatusCode)
			}
			acks := s.Wait(t, 30*time.Second)
			stored := map[int64]bool{} // producer time (Unix ms) of each cluster that must be stored
			if len(c.want) == 1 {
				if got := ackSummary(acks); !slices.Equal(got, c.want) || acks[len(acks)-1].FragmentTimecode != nil {
					t.Fatalf("acks %v, want only %v (without FragmentTimecode)", acks, c.want)
				}
			} else {
				byTC := map[int64]string{}
				for _, a := range acks {
					if a.EventType != "PERSISTED" && a.EventType != "ERROR" {
						continue
					}
					if a.FragmentTimecode == nil {
						t.Fatalf("ack %+v without FragmentTimecode", a)
					}
					if prev, ok := byTC[*a.FragmentTimecode]; ok {
						t.Fatalf("cluster %d acked %s and %s", *a.FragmentTimecode, prev, a.short())
					}
					byTC[*a.FragmentTimecode] = a.short()
				}
				body := c.body(src)
				clusters := uploadedClustersUntil(body)
				for k, w := range c.want {
					if w == "" {
						continue
					}
					ci := clusters[k]
					got := byTC[ci.TimecodeMs]
					if got == "PERSISTED" {
						got = "P"
						stored[base.Add(ci.Timecode+ci.VideoStart).Round(time.Millisecond).UnixMilli()] = true
					}
					if got != w {
						t.Errorf("cluster %d (%d ms): %q, want %q (acks %v)", k, ci.TimecodeMs, got, w, ackSummary(acks))
					}
				}
				if n := len(byTC); n != len(slices.DeleteFunc(slices.Clone(c.want), func(s string) bool { return s == "" })) {
					t.Errorf("%d clusters acked, want %d: %v", n, len(c.want), ackSummary(acks))
				}
			}
			frags := listAll(ctx, t, e.ArchivedMedia(), stream, types.FragmentSelectorTypeProducerTimestamp, base.Add(-time.Hour), base.Add(time.Hour))
			if len(frags) != len(stored) {
				t.Errorf("%d fragments stored, want %d", len(frags), len(stored))
			}
			for _, f := range frags {
				if !stored[f.ProducerTimestamp.Round(time.Millisecond).UnixMilli()] {
					t.Errorf("fragment %s at %v is not one acked PERSISTED", *f.FragmentNumber, f.ProducerTimestamp.UTC())
				}
			}
		})
	}
}

// uploadedClustersUntil reads an upload's clusters up to where it breaks.
func uploadedClustersUntil(data []byte) []clusterInfo {
	r := mkv.NewReader(bytes.NewReader(data))
	r.EmitOnClusterEnd = true
	var out []clusterInfo
	started := 0 // clusters whose timecode was read
	var lastTC time.Duration
	r.OnCluster = func(_ []mkv.Track, tc time.Duration) error { started, lastTC = started+1, tc; return nil }
	for {
		f, err := r.Next()
		if err != nil {
			if started > len(out) { // the truncated cluster
				out = append(out, clusterInfo{TimecodeMs: int64(lastTC / time.Millisecond), Timecode: lastTC})
			}
			return out
		}
		ci := clusterInfo{TimecodeMs: int64(f.Timecode / time.Millisecond), Timecode: f.Timecode, Tags: f.PreTags}
		for _, fr := range f.Frames {
			if f.Tracks[trackIndex(f.Tracks, fr.Track)].Type == mkv.Video {
				ci.VideoStart = fr.Time
				break
			}
		}
		out = append(out, ci)
	}
}

// TestPutMediaOneProducer: a stream takes one producer at a time. A
// second PutMedia while one runs, or while the stream is published over
// RTSP, is refused with HTTP 400 ConnectionLimitExceededException before
// anything of it is read; the first goes on and its fragments are stored.
func TestPutMediaOneProducer(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	e := servertest.Start(t)
	ctx := servertest.Context(t, 60*time.Second)
	src := clipFragments(t, 6)
	const stream = "pm-busy"
	createVideoStream(ctx, t, e.KinesisVideo(), stream)

	pr, pw := io.Pipe()
	first, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE"}, pr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = pw.Write(writeDocs(t, src[:1])) }()
	if first.Resp.StatusCode != 200 {
		t.Fatalf("first producer: status %d", first.Resp.StatusCode)
	}
	mediatest.WaitFor(t, "the first fragment PERSISTED", func() bool { return slices.Contains(ackSummary(first.Acks()), "PERSISTED") })

	checkBusy := func(what string) {
		t.Helper()
		second, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE"}, bytes.NewReader(writeDocs(t, src)))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Message string }
		_ = json.NewDecoder(second.Resp.Body).Decode(&body)
		if got := second.Resp.Header.Get("x-amzn-ErrorType"); second.Resp.StatusCode != http.StatusBadRequest || got != "ConnectionLimitExceededException" || body.Message == "" {
			t.Fatalf("%s: %d %s %q, want 400 ConnectionLimitExceededException", what, second.Resp.StatusCode, got, body.Message)
		}
	}
	checkBusy("a second PutMedia")
	if _, err := pw.Write(writeDocs(t, src[1:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if got := ackSummary(first.Wait(t, 30*time.Second)); !slices.Equal(got, []string{"PERSISTED", "PERSISTED", "PERSISTED"}) {
		t.Fatalf("first producer's acks %v, want 3 PERSISTED", got)
	}
	frags := listAll(ctx, t, e.ArchivedMedia(), stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), time.Now())
	if len(frags) != 3 {
		t.Fatalf("%d fragments stored, want the first producer's 3", len(frags))
	}
	fams := scrape(t, e)
	want(t, fams, "eddy_putmedia_sessions_total", nil, equal(1), "1")
	want(t, fams, "eddy_putmedia_refused_total", map[string]string{"code": "ConnectionLimitExceededException"}, equal(1), "1")
	want(t, fams, "eddy_putmedia_acks_total", map[string]string{"type": "PERSISTED"}, equal(3), "3")
	want(t, fams, "eddy_putmedia_fragments_total", nil, equal(3), "3")
	want(t, fams, "eddy_putmedia_persist_latency_seconds", nil, equal(3), "3 observations")
	want(t, fams, "eddy_kvs_putmedia_requests_total", map[string]string{"stream": stream, "protocol": "putmedia"}, equal(1), "1")

	// The same stream published over RTSP.
	_, _, done := publish(ctx, e.RTSPURL(stream), 20*time.Second, "tcp")
	mediatest.WaitFor(t, "the RTSP publication", func() bool { _, ok := e.Server.Registry().Hub(stream); return ok })
	checkBusy("PutMedia during an RTSP publication")
	_ = done
}
