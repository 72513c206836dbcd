package server_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

var dateRangeID = regexp.MustCompile(`(?m)^#EXT-X-DATERANGE:ID="([^"]+)"`)

// llNext is the (msn, part) a client asks for after an LL-HLS playlist:
// the part after the newest listed.
func llNext(body string) (msn uint64, part int) {
	var segs, parts int
	for _, l := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			msn, _ = strconv.ParseUint(strings.TrimPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			parts++
		case l != "" && !strings.HasPrefix(l, "#"):
			segs++
			parts = 0
		}
	}
	return msn + uint64(segs), parts
}

// BenchmarkHLSDateRangeLatency measures how long after PutRecords
// acknowledges an event its EXT-X-DATERANGE tag reaches an LL-HLS client
// that follows a LIVE session with blocking playlist reloads (_HLS_msn,
// _HLS_part of the next part, as hls.js in low-latency mode does), while
// a camera publishes over RTSP. Each event is written at a random moment
// within a part (time = now, the live edge); the latency is from the
// acknowledgement to the first playlist response that lists it (0 when a
// playlist listed it before the acknowledgement arrived). It reports p50,
// p99 and the maximum, and the part duration (target: p99 ≤ one part
// duration + 20 ms).
//
//	go test ./server/ -run '^$' -bench HLSDateRangeLatency -benchtime 300x
func BenchmarkHLSDateRangeLatency(b *testing.B) {
	mediatest.RequireTool(b, "ffmpeg")
	e := servertest.Start(b)
	part := time.Duration(e.Config.HLS.PartDuration)
	ctx := servertest.Context(b, 30*time.Minute)
	pubCtx, stop := context.WithCancel(ctx)
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- (&rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Loop: true}).Run(pubCtx)
	}()
	defer func() {
		stop()
		if err := <-pubDone; err != nil && pubCtx.Err() == nil {
			b.Errorf("publisher: %v", err)
		}
	}()
	am := e.ArchivedMedia()
	var sess *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if sess, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam")}); err == nil {
			break
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	mediaURL := strings.Replace(*sess.HLSStreamingSessionURL, "getHLSMasterPlaylist.m3u8", "getHLSMediaPlaylist.m3u8", 1)

	// The client: blocking reloads, the first time each date range is seen.
	var mu sync.Mutex
	seen := map[string]time.Time{}
	changed := make(chan struct{}, 1)
	readCtx, stopRead := context.WithCancel(ctx)
	readDone := make(chan error, 1)
	go func() { readDone <- followLL(readCtx, mediaURL, &mu, seen, changed) }()
	defer func() {
		stopRead()
		if err := <-readDone; err != nil && readCtx.Err() == nil {
			b.Error(err)
		}
	}()

	k := e.Kinesis()
	var lat []time.Duration
	for b.Loop() {
		time.Sleep(rand.N(part)) // a random phase against the part cuts
		now := time.Now()
		id, err := putEvent(ctx, k, "cam", fmt.Sprintf(`{"type":"detection","time":%q,"label":"person","score":0.8}`, now.UTC().Format(time.RFC3339Nano)))
		if err != nil {
			b.Fatal(err)
		}
		acked := time.Now()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			at, ok := seen[id]
			mu.Unlock()
			if ok {
				lat = append(lat, max(0, at.Sub(acked)))
				break
			}
			select {
			case <-changed:
			case <-deadline:
				b.Fatalf("event %s not in a playlist 10 s after its acknowledgement", id)
			case err := <-readDone:
				b.Fatalf("LL-HLS client: %v", err)
			}
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(part.Milliseconds()), "part-ms")
}

// followLL follows an LL-HLS media playlist with blocking reloads and
// notes in seen when each date range id is first listed.
func followLL(ctx context.Context, mediaURL string, mu *sync.Mutex, seen map[string]time.Time, changed chan<- struct{}) error {
	u := mediaURL
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		at := time.Now()
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			u = mediaURL // the part did not come in time: start over
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("playlist: %d %s", resp.StatusCode, body)
		}
		mu.Lock()
		for _, m := range dateRangeID.FindAllStringSubmatch(string(body), -1) {
			if _, ok := seen[m[1]]; !ok {
				seen[m[1]] = at
			}
		}
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
		msn, p := llNext(string(body))
		u = fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", mediaURL, msn, p)
	}
	return nil
}
