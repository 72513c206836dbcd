package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mp4ff "github.com/Eyevinn/mp4ff/mp4"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// mediaEvent is an event a test wrote with PutRecords, with the sequence
// number PutRecords answered.
type mediaEvent struct {
	seq   string
	label string
	at    time.Time
	dur   float64
	score float64
	box   [4]float64
	attrs string
}

func (m mediaEvent) overlaps(from, to time.Time) bool {
	ev := events.Event{Time: m.at, Duration: m.dur}
	return ev.Overlaps(from.UnixNano(), to.UnixNano())
}

func (m mediaEvent) check(got events.Event) error {
	if got.ID != m.seq || got.Type != "detection" || !got.Time.Equal(m.at) || got.Label != m.label || got.Duration != m.dur ||
		got.Score == nil || *got.Score != m.score || got.Box == nil || *got.Box != m.box || string(got.Attributes) != m.attrs {
		b, _ := json.Marshal(got)
		return fmt.Errorf("event %s read back as %s; wrote %s %q %gs score %g box %v %s", m.seq, b, m.at.Format(time.RFC3339Nano), m.label, m.dur, m.score, m.box, m.attrs)
	}
	return nil
}

// TestEventsInMedia publishes 8 s of the test clip over RTSP, writes
// detections with the Go SDK's PutRecords at known offsets from the
// keyframes' NTP times (one per fragment and one spanning two
// fragments), and reads them back inside the media: GetMediaForFragmentList's
// MKV has, per fragment, exactly the events that overlap it as EDDY_EVENT
// tags (parsed back, equal to what was written) after the unchanged KVS
// tags; GetClip's MP4 has the events that overlap the clip as emsg boxes
// (read with mp4ff) whose presentation times are within one frame of the
// keyframe they were written against plus the offset, with the event's
// JSON as payload; ffmpeg decodes both and ffprobe reads the clip's
// duration; clip.mp4 serves the same bytes with an exact Content-Length
// and a Range of the clip's tail, and headless Chromium plays it to the end.
func TestEventsInMedia(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	start := time.Now()
	_, keys, done := publish(ctx, e.RTSPURL("cam"), 8*time.Second, "tcp")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	am := e.ArchivedMedia()
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, start, 4, 10*time.Second)
	if len(frags) != 4 {
		t.Fatalf("%d fragments, want 4 (8 s of 2 s GOPs)", len(frags))
	}
	// The keyframe NTP time each fragment starts with, as the publisher sent it.
	keyOf := make([]time.Time, len(frags))
	for i, f := range frags {
		best := time.Duration(math.MaxInt64)
		for _, k := range *keys {
			if d := f.ProducerTimestamp.Sub(k).Abs(); d < best {
				best, keyOf[i] = d, k
			}
		}
		if best > 50*time.Millisecond {
			t.Fatalf("fragment %d: no keyframe near its producer time", i)
		}
	}

	// One detection 0.6–0.9 s into each fragment's GOP, and one from 1.5 s
	// into fragment 1 lasting 2 s (into fragment 2).
	var evs []mediaEvent
	for i := range frags {
		evs = append(evs, mediaEvent{label: []string{"person", "car"}[i%2], at: keyOf[i].Add(time.Duration(600+100*i) * time.Millisecond).UTC(),
			dur: 0.4, score: 0.75, box: [4]float64{0.25, 0.5, 0.125, 0.25}, attrs: fmt.Sprintf(`{"track":%d}`, i)})
	}
	evs = append(evs, mediaEvent{label: "person", at: keyOf[1].Add(1500 * time.Millisecond).UTC(), dur: 2, score: 1,
		box: [4]float64{0, 0, 0.5, 0.5}, attrs: `{"long":true}`})
	var entries []ktypes.PutRecordsRequestEntry
	for _, ev := range evs {
		data := fmt.Sprintf(`{"type":"detection","time":%q,"duration":%g,"label":%q,"score":%g,"box":[%g,%g,%g,%g],"attributes":%s}`,
			ev.at.Format(time.RFC3339Nano), ev.dur, ev.label, ev.score, ev.box[0], ev.box[1], ev.box[2], ev.box[3], ev.attrs)
		entries = append(entries, ktypes.PutRecordsRequestEntry{Data: []byte(data), PartitionKey: aws.String("cam")})
	}
	put, err := e.Kinesis().PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("cam.events"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(put.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %d failed: %+v", aws.ToInt32(put.FailedRecordCount), put.Records)
	}
	for i, r := range put.Records {
		evs[i].seq = aws.ToString(r.SequenceNumber)
	}

	t.Run("GetMediaForFragmentList", func(t *testing.T) {
		var nums []string
		for _, f := range frags {
			nums = append(nums, *f.FragmentNumber)
		}
		out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String("cam"), Fragments: nums})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(out.Payload)
		if err != nil {
			t.Fatal(err)
		}
		mediatest.FFmpegDecodes(t, body)
		r := mkv.NewReader(bytes.NewReader(body))
		total := 0
		for i, f := range frags {
			mf, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := mf.Tag(mkv.TagFragmentNumber); v != *f.FragmentNumber || len(mf.PreTags) < 3 || mf.PreTags[0].Name != mkv.TagFragmentNumber ||
				mf.PreTags[1].Name != mkv.TagServerTimestamp || mf.PreTags[2].Name != mkv.TagProducerTimestamp {
				t.Errorf("fragment %d: KVS tags %v", i, mf.PreTags[:min(3, len(mf.PreTags))])
			}
			got, err := archive.MKVEvents(mf)
			if err != nil {
				t.Fatal(err)
			}
			from := *f.ProducerTimestamp
			to := from.Add(time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond)
			var want []mediaEvent
			for _, ev := range evs {
				if ev.overlaps(from, to) {
					want = append(want, ev)
				}
			}
			slices.SortFunc(want, func(a, b mediaEvent) int { return a.at.Compare(b.at) }) // the timeline's order
			if len(got) != len(want) {
				t.Fatalf("fragment %d [%s, %s): %d events, want %d", i, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), len(got), len(want))
			}
			for j, g := range got {
				if err := want[j].check(g); err != nil {
					t.Errorf("fragment %d, event %d: %v", i, j, err)
				}
			}
			total += len(got)
		}
		if total != len(evs)+1 { // the long event is in two fragments
			t.Errorf("%d event tags in all, want %d", total, len(evs)+1)
		}
	})

	t.Run("GetClip", func(t *testing.T) {
		// Fragments 1 to 3.
		from := frags[1].ProducerTimestamp.Add(-10 * time.Millisecond)
		to := *frags[3].ProducerTimestamp
		out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String("cam"),
			ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeProducerTimestamp,
				TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
		if err != nil {
			t.Fatal(err)
		}
		clip, err := io.ReadAll(out.Payload)
		if err != nil {
			t.Fatal(err)
		}
		mediatest.FFmpegDecodes(t, clip)
		probe := mediatest.FFprobeJSON(t, clip, "-show_format", "-show_packets", "-select_streams", "v", "-show_entries", "packet=pts_time,flags:format=duration")
		if dur, _ := strconv.ParseFloat(probe["format"].(map[string]any)["duration"].(string), 64); math.Abs(dur-6) > 0.2 {
			t.Errorf("ffprobe: the clip of three 2 s fragments lasts %.3f s", dur)
		}
		// The keyframes' presentation times: keyframe j starts fragment 1+j.
		var keyPTS []float64
		for _, p := range probe["packets"].([]any) {
			pk := p.(map[string]any)
			if strings.Contains(pk["flags"].(string), "K") {
				v, _ := strconv.ParseFloat(pk["pts_time"].(string), 64)
				keyPTS = append(keyPTS, v)
			}
		}
		if len(keyPTS) != 3 {
			t.Fatalf("clip has %d keyframes, want 3", len(keyPTS))
		}

		f, err := mp4ff.DecodeFile(bytes.NewReader(clip))
		if err != nil {
			t.Fatal(err)
		}
		var boxes []*mp4ff.EmsgBox
		for _, b := range f.Children {
			if e, ok := b.(*mp4ff.EmsgBox); ok {
				boxes = append(boxes, e)
			}
		}
		// Events 1, 2, 3 and the long one (which starts in fragment 1).
		want := []int{1, 4, 2, 3}
		if len(boxes) != len(want) {
			t.Fatalf("%d emsg boxes, want %d", len(boxes), len(want))
		}
		const frame = 0.040
		for i, b := range boxes {
			w := evs[want[i]]
			var got events.Event
			if err := json.Unmarshal(b.MessageData, &got); err != nil {
				t.Fatalf("emsg %d payload: %v", i, err)
			}
			if err := w.check(got); err != nil {
				t.Error(err)
			}
			seq, _ := new(big.Int).SetString(w.seq, 10)
			low := uint32(new(big.Int).And(seq, big.NewInt(math.MaxUint32)).Uint64())
			if b.Version != 1 || b.SchemeIDURI != archive.EmsgScheme || b.Value != "detection" || b.TimeScale != 90000 || b.ID != low {
				t.Errorf("emsg %d: version %d, scheme %q, value %q, timescale %d, id %d (want id %d)", i, b.Version, b.SchemeIDURI, b.Value, b.TimeScale, b.ID, low)
			}
			// The fragment the event was written against.
			frag := want[i]
			if want[i] == 4 {
				frag = 1
			}
			wantPres := keyPTS[frag-1] + w.at.Sub(keyOf[frag]).Seconds()
			gotPres := float64(b.PresentationTime) / float64(b.TimeScale)
			if math.Abs(gotPres-wantPres) > frame {
				t.Errorf("emsg %d (%s): presentation time %.3f s, want %.3f s ± one frame", i, w.label, gotPres, wantPres)
			}
			if gotDur := float64(b.EventDuration) / float64(b.TimeScale); math.Abs(gotDur-w.dur) > 1e-4 {
				t.Errorf("emsg %d: duration %.4f s, want %g", i, gotDur, w.dur)
			}
		}

		// clip.mp4: the export (fragmented MP4) of the same fragments
		// with the same events at its end, an exact Content-Length, and a
		// Range over the emsg boxes at the end.
		u := fmt.Sprintf("%s/api/v1/streams/cam/clip.mp4?start=%s&end=%s", e.URL, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		whole, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(whole)) {
			t.Fatalf("clip.mp4: %d, Content-Length %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Length"), len(whole))
		}
		mediatest.FFmpegDecodes(t, whole)
		xf, err := mp4ff.DecodeFile(bytes.NewReader(whole))
		if err != nil {
			t.Fatal(err)
		}
		var xboxes []*mp4ff.EmsgBox
		for _, b := range xf.Children {
			if e, ok := b.(*mp4ff.EmsgBox); ok {
				xboxes = append(xboxes, e)
			}
		}
		if len(xboxes) != len(boxes) {
			t.Fatalf("clip.mp4 has %d emsg boxes, GetClip %d", len(xboxes), len(boxes))
		}
		for i, b := range xboxes {
			g := boxes[i]
			if !bytes.Equal(b.MessageData, g.MessageData) || b.Value != g.Value || b.ID != g.ID || b.TimeScale != g.TimeScale || b.EventDuration != g.EventDuration ||
				math.Abs(float64(b.PresentationTime)-float64(g.PresentationTime)) > frame*float64(g.TimeScale) {
				t.Errorf("clip.mp4 emsg %d: %+v, GetClip's %+v", i, b, g)
			}
		}
		// The emsg boxes end the file: the tail holds them all.
		tailLen := 0
		for _, b := range xboxes {
			tailLen += int(b.Size())
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=-%d", tailLen))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		tail, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || len(tail) != tailLen || !bytes.Equal(tail, whole[len(whole)-tailLen:]) || string(tail[4:8]) != "emsg" ||
			resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", len(whole)-tailLen, len(whole)-1, len(whole)) {
			t.Fatalf("Range of the tail: %d, %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(tail))
		}

		// Chromium plays it, seeks near its end and plays to the end.
		t.Run("Chromium", func(t *testing.T) {
			node, chromium := needBrowser(t)
			runBrowserTest(ctx, t, node, chromium, "test/clip_play.mjs", "EDDY_URL="+e.URL,
				"EDDY_CLIP="+strings.TrimPrefix(u, e.URL), "EDDY_CLIP_SECONDS=6")
		})
	})
}
