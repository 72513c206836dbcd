package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// browserRange is a date range as hls.js reports it (web/test/hls_daterange.mjs).
type browserRange struct {
	ID        string   `json:"id"`
	Class     string   `json:"class"`
	StartDate string   `json:"startDate"`
	Duration  *float64 `json:"duration"`
	StartTime float64  `json:"startTime"`
	Label     *string  `json:"label"`
	Type      *string  `json:"type"`
	Score     *string  `json:"score"`
	Box       *string  `json:"box"`
	SeenAt    int64    `json:"seenAt"`
}

// runDateRangeScript runs web/test/hls_daterange.mjs and decodes its
// RESULT line into out.
func runDateRangeScript(ctx context.Context, t *testing.T, out any, env ...string) {
	t.Helper()
	node, chromium := needBrowser(t)
	shot := filepath.Join(t.TempDir(), "hls-daterange.png")
	cmd := exec.CommandContext(ctx, node, "test/hls_daterange.mjs")
	cmd.Dir = "../web"
	cmd.Env = append(append(os.Environ(), env...), "CHROMIUM="+chromium, "SCREENSHOT="+shot)
	b, err := cmd.CombinedOutput()
	var result string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			result = r
		} else {
			t.Log("browser:", sc.Text())
		}
	}
	if err != nil {
		if s, rerr := os.ReadFile(shot); rerr == nil {
			keep := filepath.Join(os.TempDir(), "eddy-hls-daterange-failure.png")
			if os.WriteFile(keep, s, 0o644) == nil {
				t.Logf("screenshot: %s", keep)
			}
		}
		t.Fatalf("web/test/hls_daterange.mjs: %v", err)
	}
	if err := json.Unmarshal([]byte(result), out); err != nil {
		t.Fatalf("result %q: %v", result, err)
	}
}

// frameDuration is one frame of the test clip's video, as ffprobe reads it.
func frameDuration(ctx context.Context, t *testing.T) time.Duration {
	t.Helper()
	rate := strings.TrimSpace(string(mediatest.FFprobe(ctx, t, testClip, "-select_streams", "v:0", "-show_entries", "stream=r_frame_rate", "-of", "csv=p=0")))
	n, d, _ := strings.Cut(rate, "/")
	num, _ := strconv.ParseFloat(n, 64)
	den, _ := strconv.ParseFloat(d, 64)
	if num <= 0 || den <= 0 {
		t.Fatalf("frame rate %q", rate)
	}
	return time.Duration(float64(time.Second) * den / num)
}

// putEvent writes one event with PutRecords and returns its id (the
// record's sequence number).
func putEvent(ctx context.Context, k *kinesis.Client, stream, data string) (string, error) {
	out, err := k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream + ".events"),
		Records: []ktypes.PutRecordsRequestEntry{{PartitionKey: aws.String("detector"), Data: []byte(data)}}})
	if err != nil {
		return "", err
	}
	r := out.Records[0]
	if r.ErrorCode != nil {
		return "", fmt.Errorf("%s: %s", *r.ErrorCode, aws.ToString(r.ErrorMessage))
	}
	return *r.SequenceNumber, nil
}

// TestHLSDateRangesOnDemand records a clip, writes events with producer
// times spread over it, and plays an ON_DEMAND session (SERVER_TIMESTAMP,
// DisplayFragmentTimestamp left NEVER) in hls.js: the page gets every
// event of the range as a date range, with its id, class and label, and a
// start date within one frame of the written time mapped to the server
// clock through the covering fragment; events outside the range are
// absent. ffprobe still plays the session.
func TestHLSDateRangesOnDemand(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	needBrowser(t)
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	frame := frameDuration(ctx, t)
	since := time.Now().Add(-time.Minute)
	_, _, done := publish(ctx, e.RTSPURL("cam"), 8*time.Second, "tcp")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, since, 4, 10*time.Second)
	if len(frags) < 4 {
		t.Fatalf("%d fragments", len(frags))
	}
	sort.Slice(frags, func(i, j int) bool { return frags[i].ServerTimestamp.Before(*frags[j].ServerTimestamp) })
	last := frags[len(frags)-1]
	pEnd := last.ProducerTimestamp.Add(time.Duration(last.FragmentLengthInMilliseconds) * time.Millisecond)

	// Eight events over the recording, one before it and one after.
	k := e.Kinesis()
	type written struct {
		id, label string
		at        time.Time // producer time
	}
	var want []written
	put := func(at time.Time, label string) string {
		data := fmt.Sprintf(`{"type":"detection","time":%q,"label":%q,"score":0.9,"box":[0.25,0.25,0.5,0.5],"duration":0.5}`, at.UTC().Format(time.RFC3339Nano), label)
		id, err := putEvent(ctx, k, "cam", data)
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		return id
	}
	p0 := *frags[0].ProducerTimestamp
	span := pEnd.Sub(p0)
	for i := 0; i < 8; i++ {
		at := p0.Add(span*time.Duration(i)/8 + 123*time.Millisecond)
		label := fmt.Sprintf("person %d", i)
		want = append(want, written{id: put(at, label), label: label, at: at})
	}
	outside := []string{put(p0.Add(-2*time.Second), "before"), put(pEnd.Add(2*time.Second), "after")}

	// The start date hls.js must report: the covering fragment's server
	// time plus the event's offset into it.
	serverAt := func(at time.Time) time.Time {
		f := frags[0]
		for _, g := range frags {
			if !g.ProducerTimestamp.After(at) {
				f = g
			}
		}
		return f.ServerTimestamp.Add(at.Sub(*f.ProducerTimestamp))
	}
	from, to := *frags[0].ServerTimestamp, *last.ServerTimestamp
	sess, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, master := httpGet(t, *sess.HLSStreamingSessionURL)
	_, _, media := httpGet(t, playlistURIs(*sess.HLSStreamingSessionURL, master)[0])
	if n := strings.Count(media, "#EXT-X-DATERANGE:"); n != len(want) || strings.Count(media, "#EXT-X-PROGRAM-DATE-TIME:") != strings.Count(media, "#EXTINF:") {
		t.Errorf("%d date ranges for %d events, program date times on every segment:\n%s", n, len(want), media)
	}

	var res struct {
		CurrentTime float64        `json:"currentTime"`
		Ranges      []browserRange `json:"ranges"`
	}
	runDateRangeScript(ctx, t, &res, "EDDY_URL="+e.URL, "HLS_URL="+*sess.HLSStreamingSessionURL, "MODE=vod")
	got := map[string]browserRange{}
	for _, r := range res.Ranges {
		got[r.ID] = r
	}
	for _, w := range want {
		r, ok := got[w.id]
		if !ok {
			t.Errorf("event %s (%s) not reported by hls.js", w.id, w.label)
			continue
		}
		sd, err := time.Parse(time.RFC3339Nano, r.StartDate)
		if err != nil {
			t.Errorf("start date %q: %v", r.StartDate, err)
			continue
		}
		exp := serverAt(w.at)
		if d := sd.Sub(exp); d < -frame || d > frame {
			t.Errorf("event %s starts at %s, want %s (±%s): off by %s", w.id, r.StartDate, exp.UTC().Format(time.RFC3339Nano), frame, d)
		}
		if r.Class != "video.eddy.event.detection" || r.Label == nil || *r.Label != w.label || r.Duration == nil || *r.Duration != 0.5 ||
			r.Score == nil || *r.Score != "0.9" || r.Box == nil || *r.Box != "0.25,0.25,0.5,0.5" || math.IsNaN(r.StartTime) {
			t.Errorf("event %s as hls.js reads it: %+v", w.id, r)
		}
		t.Logf("event %s at %s: hls.js start date %s (media time %.3f s)", w.id, exp.UTC().Format("15:04:05.000"), r.StartDate, r.StartTime)
	}
	for _, id := range outside {
		if _, ok := got[id]; ok {
			t.Errorf("event %s outside the session's range reported", id)
		}
	}
	if len(got) != len(want) {
		t.Errorf("hls.js reported %d date ranges, want %d", len(got), len(want))
	}

	// ffprobe reads the session with its date ranges.
	out := mediatest.FFprobe(ctx, t, *sess.HLSStreamingSessionURL, "-show_entries", "format=duration", "-of", "csv=p=0")
	if d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); d < 4 {
		t.Errorf("ffprobe duration %q", out)
	}
}

// TestHLSDateRangeLive plays a LIVE session in hls.js in low-latency mode
// and writes an event for the live edge while it plays: hls.js reports the
// event's date range soon after PutRecords acknowledged it, and playback
// goes on. ffprobe still reads the LL-HLS playlist.
func TestHLSDateRangeLive(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	needBrowser(t)
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	pubCtx, stop := context.WithCancel(ctx)
	defer stop()
	_, _, done := publish(pubCtx, e.RTSPURL("cam"), 0, "tcp")
	defer func() { stop(); stopped(t, done) }()
	am := e.ArchivedMedia()
	var sess *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
	var err error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if sess, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam")}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}

	k := e.Kinesis()
	type written struct {
		id string
		at time.Time
	}
	wrote := make(chan written, 1)
	writer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		id, err := putEvent(r.Context(), k, "cam", fmt.Sprintf(`{"type":"detection","time":%q,"label":"person","score":0.8}`, at.UTC().Format(time.RFC3339Nano)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		select {
		case wrote <- written{id, at}:
		default:
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
	}))
	defer writer.Close()

	var res struct {
		Range       browserRange `json:"range"`
		SeenAfterMs int64        `json:"seenAfterMs"`
		PlayedOn    float64      `json:"playedOn"`
	}
	runDateRangeScript(ctx, t, &res, "EDDY_URL="+e.URL, "HLS_URL="+*sess.HLSStreamingSessionURL, "MODE=live", "WRITE_URL="+writer.URL)
	var ev written
	select {
	case ev = <-wrote:
	default:
		t.Fatal("the page asked for no event")
	}
	id, at := ev.id, ev.at
	t.Logf("hls.js reported the live event %s (start date %s, media time %.3f s) %d ms after its acknowledgement", res.Range.ID, res.Range.StartDate, res.Range.StartTime, res.SeenAfterMs)
	if res.Range.ID != id || res.Range.Label == nil || *res.Range.Label != "person" || res.PlayedOn < 1 {
		t.Errorf("live date range %+v (written %s), played on %.2f s", res.Range, id, res.PlayedOn)
	}
	if sd, err := time.Parse(time.RFC3339Nano, res.Range.StartDate); err != nil || sd.Sub(at).Abs() > 2*time.Second {
		t.Errorf("live start date %q for an event written at %s on a clock near the server's", res.Range.StartDate, at.UTC().Format(time.RFC3339Nano))
	}

	// ffprobe reads the LL-HLS session (its playlists with the date range).
	out := mediatest.FFprobe(ctx, t, *sess.HLSStreamingSessionURL, "-read_intervals", "%+2", "-show_entries", "stream=codec_name", "-of", "csv=p=0")
	if !strings.Contains(string(out), "h264") {
		t.Errorf("ffprobe of the LIVE session: %q", out)
	}
}
