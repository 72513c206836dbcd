package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// uiEvent is an event record as the test writes it (the documented
// schema), with the id PutRecords gave it.
type uiEvent struct {
	ID       string      `json:"id,omitempty"`
	Type     string      `json:"type"`
	Time     string      `json:"time"`
	Duration float64     `json:"duration,omitempty"`
	Label    string      `json:"label"`
	Score    float64     `json:"score"`
	Box      *[4]float64 `json:"box,omitempty"`
	Attrs    any         `json:"attributes,omitempty"`
}

// putUIEvents writes events to {stream}.events with PutRecords and sets
// their ids (the records' sequence numbers).
func putUIEvents(ctx context.Context, kc *kinesis.Client, stream string, evs []uiEvent) error {
	entries := make([]ktypes.PutRecordsRequestEntry, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		entries[i] = ktypes.PutRecordsRequestEntry{Data: b, PartitionKey: aws.String("ui-test")}
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream + ".events"), Records: entries})
	if err != nil {
		return err
	}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			return fmt.Errorf("PutRecords record %d: %s: %s", i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
		evs[i].ID = aws.ToString(r.SequenceNumber)
	}
	return nil
}

// TestWebUIEvents drives the UI's events in headless Chromium
// (web/test/e2e_events.mjs) against events written with PutRecords: the
// live view (WebRTC) draws each event's box over the frames its time span
// covers, not when it arrives; the archive timeline shows a marker per
// event in the label's colour and a density strip when zoomed out; the
// label filter; clicking a marker or a row of the events list plays the
// archive within one GOP of the event, with its box drawn.
func TestWebUIEvents(t *testing.T) {
	node, chromium := needBrowser(t)
	e := servertest.Start(t)
	ctx := servertest.Context(t, 150*time.Second)
	pubCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	wg.Add(1)
	go func() {
		defer wg.Done()
		p := &rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Loop: true}
		if err := p.Run(pubCtx); err != nil && !errors.Is(err, context.Canceled) && pubCtx.Err() == nil {
			t.Errorf("publisher: %v", err)
		}
	}()

	// Wait for 8 s of archive; its fragments give the producer clock's
	// offset from the server's and the GOP (a fragment per GOP).
	am := e.ArchivedMedia()
	var frags []amtypes.Fragment
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		from, to := time.Now().Add(-time.Hour), time.Now().Add(time.Minute)
		out, err := am.ListFragments(ctx, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String("cam"),
			FragmentSelector: &amtypes.FragmentSelector{FragmentSelectorType: amtypes.FragmentSelectorTypeServerTimestamp,
				TimestampRange: &amtypes.TimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
		if err == nil {
			frags = out.Fragments
			sort.Slice(frags, func(i, j int) bool { return frags[i].ProducerTimestamp.Before(*frags[j].ProducerTimestamp) })
			var ms int64
			for _, f := range frags {
				ms += f.FragmentLengthInMilliseconds
			}
			if ms >= 8000 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the archive does not hold 8 s after 40 s: %d fragments, %v", len(frags), err)
		}
	}
	last := frags[len(frags)-1]
	offset := last.ProducerTimestamp.Sub(*last.ServerTimestamp)
	var gop int64
	for _, f := range frags {
		gop = max(gop, f.FragmentLengthInMilliseconds)
	}
	t.Logf("%d fragments, producer clock %v ahead of the server's, GOP %d ms", len(frags), offset, gop)

	// Archive events: two labels, a second into the recording and 2.5 s apart.
	kc := e.Kinesis()
	t0 := frags[0].ProducerTimestamp.Add(time.Second)
	archive := []uiEvent{
		{Type: "detection", Label: "car", Score: 0.9, Duration: 1.5, Box: &[4]float64{0.1, 0.1, 0.3, 0.3}},
		{Type: "detection", Label: "dog", Score: 0.7, Duration: 1, Box: &[4]float64{0.5, 0.5, 0.2, 0.2}},
		{Type: "detection", Label: "car", Score: 0.8, Duration: 1.5, Box: &[4]float64{0.6, 0.1, 0.3, 0.3}},
	}
	for i := range archive {
		archive[i].Time = t0.Add(time.Duration(i) * 2500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	}
	if err := putUIEvents(ctx, kc, "cam", archive); err != nil {
		t.Fatal(err)
	}
	// And 1,200 "motion" events two hours earlier, a second apart: the day
	// view reads them in two pages.
	const motions = 1200
	for i := 0; i < motions; i += 500 {
		batch := make([]uiEvent, min(500, motions-i))
		for j := range batch {
			batch[j] = uiEvent{Type: "motion", Label: "motion", Score: 0.5,
				Time: t0.Add(-2*time.Hour + time.Duration(i+j)*time.Second).UTC().Format(time.RFC3339Nano)}
		}
		if err := putUIEvents(ctx, kc, "cam", batch); err != nil {
			t.Fatal(err)
		}
	}

	// Live events while the page plays: a "person" every 400 ms at the
	// producer's now (1 s long), and every 3.2 s a "bicycle" instant 1.5 s
	// ahead of it, which the page must not draw before its frame shows.
	liveCtx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(400 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-liveCtx.Done():
				return
			case <-tick.C:
			}
			now := time.Now().Add(offset)
			x := 0.1 + 0.3*(1+math.Sin(float64(i)/5))/2
			evs := []uiEvent{{Type: "detection", Label: "person", Score: 0.95, Duration: 1, Box: &[4]float64{x, 0.3, 0.2, 0.5},
				Time: now.UTC().Format(time.RFC3339Nano), Attrs: map[string]int{"n": i}}}
			if i%8 == 0 {
				evs = append(evs, uiEvent{Type: "detection", Label: "bicycle", Score: 0.6, Box: &[4]float64{0.65, 0.55, 0.3, 0.35},
					Time: now.Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)})
			}
			if err := putUIEvents(liveCtx, kc, "cam", evs); err != nil && liveCtx.Err() == nil {
				t.Errorf("live events: %v", err)
				return
			}
		}
	}()

	want, err := json.Marshal(archive)
	if err != nil {
		t.Fatal(err)
	}
	runBrowserTest(ctx, t, node, chromium, "test/e2e_events.mjs", "EDDY_URL="+e.URL, "EDDY_STREAM=cam",
		"EDDY_EVENTS="+string(want), "EDDY_MOTIONS="+strconv.Itoa(motions), "EDDY_GOP_MS="+strconv.FormatInt(gop, 10),
		"EDDY_PRODUCER_OFFSET_MS="+strconv.FormatInt(offset.Milliseconds(), 10))
}
