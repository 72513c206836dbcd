package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// persistedOf returns the fragment numbers acked PERSISTED.
func persistedOf(acks []pmAck) []string {
	var out []string
	for _, a := range acks {
		if a.EventType == "PERSISTED" {
			out = append(out, a.FragmentNumber)
		}
	}
	return out
}

// coldProbe POSTs a KVS archived-media request that needs the bucket and
// returns the answer's status, error type, body and how long it took.
func coldProbe(ctx context.Context, t *testing.T, url, path, body string) (int, string, string, time.Duration) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), string(b), time.Since(start)
}

// hlsDuringOutage opens an ON_DEMAND HLS session over the first, cold,
// 10 s and follows it from the master playlist to the first media
// segment: a file that needs the bucket answers plain HTTP 503 with
// Retry-After and a reason, in under 2 s; no file answers otherwise
// than 200 or that.
func hlsDuringOutage(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, base time.Time) {
	t.Helper()
	from, to := base, base.Add(10*time.Second)
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Errorf("GetHLSStreamingSessionURL during the outage (the index is local): %v", err)
		return
	}
	u := *od.HLSStreamingSessionURL
	for step := 0; step < 3; step++ {
		start := time.Now()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		switch resp.StatusCode {
		case http.StatusOK:
			uris := playlistURIs(u, string(b))
			if len(uris) == 0 {
				t.Errorf("HLS during the outage: %s names no file:\n%s", u, b)
				return
			}
			u = uris[0]
			continue
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" || len(strings.TrimSpace(string(b))) == 0 || took > 2*time.Second {
				t.Errorf("HLS during the outage: %s: 503 in %v, Retry-After %q, body %q; want Retry-After and a reason in < 2 s", u, took, resp.Header.Get("Retry-After"), b)
			}
			t.Logf("HLS during the outage: %s of the session: 503 Retry-After %s: %s", []string{"master playlist", "media playlist", "media segment"}[step],
				resp.Header.Get("Retry-After"), strings.TrimSpace(string(b)))
			return
		default:
			t.Errorf("HLS during the outage: %s: %d %s", u, resp.StatusCode, b)
			return
		}
	}
	t.Errorf("HLS during the outage: a media segment of cold fragments answered 200 (%s)", u)
}

// TestObjectTierOutage records a minute of video with hot 0s until its
// sealed segments are only in the bucket, then stops the object store
// for 60 s while PutMedia ingests at twice real time. Ingest goes on
// (acks keep coming), the sealed segments wait on local disk
// (eddy_object_pending_bytes grows, the upload lag is counted), a read
// of a cold fragment answers 503 ClientLimitExceededException naming
// object storage in under 2 s (GetMediaForFragmentList and GetClip; an
// HLS media segment plain 503 with Retry-After), while ListFragments (the index is local) still answers. Once the store
// is back the uploads catch up (pending and lag back to 0, every sealed
// segment uploaded and dropped locally), nothing is counted as lost, and
// every fragment acked, before or during the outage, is listed once and
// reads whole.
func TestObjectTierOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the object store for 60 s; skipped with -short")
	}
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg")
	store := startObjStore(t)
	e := servertest.StartConfig(t, objConfig(t, store.objYAML("0s")))
	ctx := servertest.Context(t, 5*time.Minute)
	const stream = "cam-outage"
	createObjStream(ctx, t, e.KinesisVideo(), stream, 24)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	first := ingestClip(ctx, t, e.URL, stream, base, 3)
	waitTiered(t, e.URL, e.Dir, 2, time.Minute)

	// Ingest at 2× real time for 80 s (160 s of video, about 6 MB: five
	// segments seal during the outage).
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-readrate", "2", "-stream_loop", "7", "-i", testClip,
		"-c", "copy", "-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	body, _ := runProducer(ctx, t, cmd)
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", start: unixSeconds(base.Add(10 * time.Minute))}, body)
	if err != nil || s.Resp.StatusCode != 200 {
		t.Fatalf("PutMedia: %v", err)
	}
	store.Stop()
	outage := time.Now()
	t.Logf("object store stopped")

	// A cold read fails fast, in the API's terms.
	for _, c := range []struct{ path, body string }{
		{"/getMediaForFragmentList", fmt.Sprintf(`{"StreamName":%q,"Fragments":[%q]}`, stream, first[0])},
		{"/getClip", fmt.Sprintf(`{"StreamName":%q,"ClipFragmentSelector":{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":%d,"EndTimestamp":%d}}}`,
			stream, base.Unix(), base.Add(10*time.Second).Unix())},
	} {
		status, typ, msg, took := coldProbe(ctx, t, e.URL, c.path, c.body)
		if status != http.StatusServiceUnavailable || typ != "ClientLimitExceededException" || !strings.Contains(strings.ToLower(msg), "object storage") {
			t.Errorf("%s of a cold fragment during the outage: %d %s %s; want 503 ClientLimitExceededException naming object storage", c.path, status, typ, msg)
		}
		if took > 2*time.Second {
			t.Errorf("%s of a cold fragment during the outage took %v, want < 2 s", c.path, took)
		}
	}
	_, am := kvClients(e.URL)
	if frags := sortedFragments(ctx, t, am, stream, base); len(frags) < len(first) {
		t.Errorf("ListFragments during the outage: %d fragments, %d recorded before it", len(frags), len(first))
	}
	hlsDuringOutage(ctx, t, am, stream, base)

	time.Sleep(time.Until(outage.Add(20 * time.Second)))
	acks20 := len(persistedOf(s.Acks()))
	pending20 := objMetric(scrapeURL(t, e.URL), "eddy_object_pending_bytes")
	time.Sleep(time.Until(outage.Add(58 * time.Second)))
	fams := scrapeURL(t, e.URL)
	acks58 := len(persistedOf(s.Acks()))
	pending58 := objMetric(fams, "eddy_object_pending_bytes")
	lag := objMetric(fams, "eddy_object_upload_lag_seconds")
	t.Logf("during the outage: %d → %d acks, pending %v → %v bytes, lag %v s, available %v",
		acks20, acks58, pending20, pending58, lag, objMetric(fams, "eddy_object_available"))
	if acks58-acks20 < 12 {
		t.Errorf("%d fragments acked PERSISTED from 20 s to 58 s into the outage, want about 19 (2 s fragments at 2×)", acks58-acks20)
	}
	if pending20 <= 0 || pending58 <= pending20 {
		t.Errorf("eddy_object_pending_bytes %v at 20 s and %v at 58 s into the outage: want it growing", pending20, pending58)
	}
	if lag <= 0 {
		t.Errorf("eddy_object_upload_lag_seconds %v during the outage", lag)
	}
	if v := objMetric(fams, "eddy_object_available"); v != 0 {
		t.Errorf("eddy_object_available %v after a cold read failed", v)
	}
	if st := statusOf(t, e.URL); st.ObjectStorage.Available || st.ObjectStorage.PendingSegments == 0 {
		t.Errorf("status page during the outage: %+v, want unavailable with segments pending", *st.ObjectStorage)
	}
	if v := objMetric(fams, "eddy_object_upload_failures_total"); v == 0 {
		t.Error("eddy_object_upload_failures_total 0 after a minute of outage")
	}
	time.Sleep(time.Until(outage.Add(60 * time.Second)))
	store.Start()
	back := time.Now()
	t.Logf("object store started again after %v", back.Sub(outage).Round(time.Second))

	during := persistedOf(s.Wait(t, 2*time.Minute))
	// Uploads retry with backoff doubling up to a minute: within about a
	// minute of the store's return they caught up.
	objWaitUntil(t, 100*time.Second, "the upload lag recovered", func() (bool, string) {
		fams := scrapeURL(t, e.URL)
		pending, lag := objMetric(fams, "eddy_object_pending_bytes"), objMetric(fams, "eddy_object_upload_lag_seconds")
		cold, _ := allCold(t, e.Dir)
		return pending == 0 && lag == 0 && cold, fmt.Sprintf("pending %v bytes, lag %v s, all cold %v", pending, lag, cold)
	})
	t.Logf("caught up %v after the store's return", time.Since(back).Round(time.Second))
	fams = scrapeURL(t, e.URL)
	if v := objMetric(fams, "eddy_object_lost_bytes_total"); v != 0 {
		t.Errorf("eddy_object_lost_bytes_total %v", v)
	}
	// Cold reads work again once the cache's breaker lets them through.
	objWaitUntil(t, 90*time.Second, "a cold read answered again", func() (bool, string) {
		_, err := getFragments(ctx, am, stream, first[:1])
		return err == nil, fmt.Sprint(err)
	})

	acked := append(first, during...)
	frags := allFragments(ctx, t, am, stream)
	listed := map[string]bool{}
	for _, f := range frags {
		listed[*f.FragmentNumber] = true
	}
	for _, n := range acked {
		if !listed[n] {
			t.Errorf("fragment %s acked PERSISTED, not listed", n)
		}
	}
	fragmentContents(ctx, t, am, stream, acked)
	if v := objMetric(scrapeURL(t, e.URL), "eddy_object_available"); v != 1 {
		t.Errorf("eddy_object_available %v after the store's return", v)
	}
	if st := statusOf(t, e.URL); !st.ObjectStorage.Available || st.ObjectStorage.PendingSegments != 0 {
		t.Errorf("status page after the store's return: %+v, want available, nothing pending", *st.ObjectStorage)
	}
	t.Logf("%d fragments before the outage, %d during and after it, all listed and read", len(first), len(during))
}
