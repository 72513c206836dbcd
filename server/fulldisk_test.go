package server_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/aws/smithy-go"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

func TestParseFreeSpace(t *testing.T) {
	for in, want := range map[string]server.FreeSpace{
		"5%": {Percent: 5}, "0.5 %": {Percent: 0.5}, "10GB": {Bytes: 10e9}, "512MiB": {Bytes: 512 << 20}, "0": {},
	} {
		if got, err := server.ParseFreeSpace(in); err != nil || got != want {
			t.Errorf("ParseFreeSpace(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"95%", "-1%", "x%", "ten", "-5GB", ""} {
		if got, err := server.ParseFreeSpace(in); err == nil {
			t.Errorf("ParseFreeSpace(%q) = %+v, want an error", in, got)
		}
	}
}

// fullDiskServer starts a server whose data directory is on a tmpfs of
// size bytes, with a free-space floor of minFree; it returns the server,
// its config and the tmpfs.
func fullDiskServer(t *testing.T, size int64, minFree server.FreeSpace) (*servertest.Env, server.Config, string) {
	t.Helper()
	dir := datastreamstest.Tmpfs(t, size)
	cfg := servertest.Config(t)
	cfg.Data = filepath.Join(dir, "data")
	cfg.Storage.SegmentSize = 1 << 20
	cfg.Storage.MinFree = minFree
	return servertest.StartConfig(t, cfg), cfg, dir
}

// ackedRecords are the records a server acknowledged: sequence number →
// checksum of the data.
type ackedRecords map[string][32]byte

// put sends n records of 8 KiB (larger than a page, so that no record
// fits in the slack of a full tmpfs) and returns the results; the
// acknowledged ones are added to a.
func (a ackedRecords) put(ctx context.Context, t *testing.T, kc *kinesis.Client, stream string, n int) *kinesis.PutRecordsOutput {
	t.Helper()
	in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
	var sums [][32]byte
	for i := range n {
		data := make([]byte, 8<<10)
		_, _ = rand.Read(data)
		sums = append(sums, sha256.Sum256(data))
		in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(fmt.Sprint(i))})
	}
	out, err := kc.PutRecords(ctx, in)
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	for i, r := range out.Records {
		if r.SequenceNumber != nil {
			a[*r.SequenceNumber] = sums[i]
		}
	}
	return out
}

// check reads the stream's shard from its start and fails unless every
// acknowledged record is there with its data intact.
func (a ackedRecords) check(t *testing.T, kc *kinesis.Client, stream string) {
	t.Helper()
	recs, _ := readShard(t, kc, iterator(t, kc, stream, "shardId-000000000000", ktypes.ShardIteratorTypeTrimHorizon, nil, nil))
	found := 0
	for _, r := range recs {
		want, ok := a[*r.SequenceNumber]
		if !ok {
			t.Errorf("record %s was never acknowledged", *r.SequenceNumber)
			continue
		}
		if sha256.Sum256(r.Data) != want {
			t.Errorf("record %s: data changed", *r.SequenceNumber)
		}
		found++
	}
	if found != len(a) {
		t.Errorf("%d of %d acknowledged records read back", found, len(a))
	}
}

// fragmentSums reads every fragment of stream alone and returns the
// checksums of what GetMediaForFragmentList answers, by fragment number.
func fragmentSums(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, frags []types.Fragment) map[string][32]byte {
	t.Helper()
	sums := map[string][32]byte{}
	for _, f := range frags {
		out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{
			StreamName: aws.String(stream), Fragments: []string{*f.FragmentNumber}})
		if err != nil {
			t.Fatalf("fragment %s of %s: %v", *f.FragmentNumber, stream, err)
		}
		b, err := io.ReadAll(out.Payload)
		out.Payload.Close()
		if err != nil || len(b) == 0 {
			t.Fatalf("fragment %s of %s: %d bytes, %v", *f.FragmentNumber, stream, len(b), err)
		}
		sums[*f.FragmentNumber] = sha256.Sum256(b)
	}
	return sums
}

// checkFragments fails unless every fragment acknowledged (listed) before
// reads back unchanged, and every fragment listed now reads back.
func checkFragments(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, before map[string][32]byte) {
	t.Helper()
	now := fragmentSums(ctx, t, am, stream, listAll(ctx, t, am, stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), time.Now()))
	for n, sum := range before {
		if got, ok := now[n]; !ok || got != sum {
			t.Errorf("%s fragment %s: listed %v, unchanged %v", stream, n, ok, got == sum)
		}
	}
}

// checkHLS fetches an on-demand HLS session of stream since from: its
// playlist and every media segment it lists answer 200.
func checkHLS(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from time.Time) {
	t.Helper()
	to := time.Now()
	od, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	code, _, master := httpGet(t, *od.HLSStreamingSessionURL)
	uris := playlistURIs(*od.HLSStreamingSessionURL, master)
	if code != 200 || len(uris) == 0 {
		t.Fatalf("HLS master playlist: %d %q", code, master)
	}
	code, _, media := httpGet(t, uris[0])
	segs := playlistURIs(uris[0], media)
	if code != 200 || len(segs) == 0 {
		t.Fatalf("HLS media playlist: %d %q", code, media)
	}
	for _, u := range segs {
		if code, _, _ := httpGet(t, u); code != 200 {
			t.Errorf("HLS %s: %d", u, code)
		}
	}
}

// waitFor polls cond every 50 ms until it holds or within passes.
func waitFor(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestFullDisk fills the data directory's filesystem (a tmpfs, the floor
// off) under an RTSP camera, a WHIP publisher and a Kinesis producer:
// writes fail in each protocol's terms (the publishers are told, PutRecords
// fails every record with InternalFailure naming the full disk), reads go
// on, everything acknowledged before reads back unchanged (also after a
// restart), and once space returns ingest resumes by itself.
func TestFullDisk(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	e, cfg, dir := fullDiskServer(t, 32<<20, server.FreeSpace{})
	ctx := servertest.Context(t, 2*time.Minute)
	kc := e.Kinesis(servertest.NoRetries)
	am := e.ArchivedMedia()
	createStream(t, kc, "events", 1)
	acked := ackedRecords{}
	acked.put(ctx, t, kc, "events", 20)

	camCtx, stopCam := context.WithCancel(ctx)
	defer stopCam()
	camDone := make(chan error, 1)
	go func() {
		camDone <- (&rtspclient.FilePublisher{URL: e.RTSPURL("cam"), File: testClip, Loop: true}).Run(camCtx)
	}()
	whipPublisher(ctx, t, e.URL+"/webrtc/door/whip", time.Hour)
	from := time.Now().Add(-time.Minute)
	camSums := fragmentSums(ctx, t, am, "cam", waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, from, 2, 20*time.Second))
	doorSums := fragmentSums(ctx, t, am, "door", waitFragments(ctx, t, am, "door", types.FragmentSelectorTypeServerTimestamp, from, 2, 20*time.Second))
	if len(camSums) < 2 || len(doorSums) < 2 {
		t.Fatalf("%d RTSP and %d WHIP fragments before the fill, want ≥ 2 each", len(camSums), len(doorSums))
	}

	filler := filepath.Join(dir, "filler")
	datastreamstest.Fill(t, filler, 0)
	failed := acked.put(ctx, t, kc, "events", 10)
	if n := aws.ToInt32(failed.FailedRecordCount); n != 10 {
		t.Errorf("PutRecords on a full disk: %d of 10 records failed, want all", n)
	}
	for _, r := range failed.Records {
		if aws.ToString(r.ErrorCode) != "InternalFailure" || !strings.Contains(aws.ToString(r.ErrorMessage), "no space left on device") {
			t.Fatalf("PutRecords record on a full disk: %s %q, want InternalFailure naming the full disk", aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
		}
	}
	_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("events"), Data: make([]byte, 8<<10), PartitionKey: aws.String("k")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InternalFailureException" || !strings.Contains(apiErr.ErrorMessage(), "storage is full") {
		t.Fatalf("PutRecord on a full disk: %v, want InternalFailureException naming the full disk", err)
	}
	select {
	case err := <-camDone:
		t.Logf("the RTSP camera was told: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the RTSP camera still publishes 20 s after the disk filled")
	}
	if !waitFor(20*time.Second, func() bool { _, whip := e.Server.WebRTC().Sessions(); return whip == 0 }) {
		t.Fatal("the WHIP session still runs 20 s after the disk filled")
	}
	// Reads go on while the disk is full.
	acked.check(t, kc, "events")
	checkFragments(ctx, t, am, "cam", camSums)
	checkFragments(ctx, t, am, "door", doorSums)
	if clip := getClip(ctx, t, am, "cam", from, time.Now()); len(clip) == 0 {
		t.Error("empty clip on a full disk")
	}
	checkHLS(ctx, t, am, "cam", from)

	// Space returns: a camera reconnecting records again, producers write.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	if out := acked.put(ctx, t, kc, "events", 10); aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Errorf("PutRecords after space returned: %d records failed", aws.ToInt32(out.FailedRecordCount))
	}
	stop := publishLive(ctx, t, e, "cam", time.Hour)
	if frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, back, 1, 20*time.Second); len(frags) == 0 {
		t.Fatal("no new fragment 20 s after space returned")
	}
	stop()

	// Nothing half-written survives a restart either.
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := servertest.StartConfig(t, cfg)
	acked.check(t, e2.Kinesis(), "events")
	checkFragments(ctx, t, e2.ArchivedMedia(), "cam", camSums)
	checkFragments(ctx, t, e2.ArchivedMedia(), "door", doorSums)
}

// metric returns the value of an unlabelled metric on /metrics.
func metric(t *testing.T, e *servertest.Env, name string) float64 {
	t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s on /metrics", name)
	return 0
}

// TestMinFreeKeepsRecording: with the default free-space floor, six
// cameras recording onto a small filesystem keep recording past the time
// the disk would have filled: retention deletes the oldest data first,
// no publication is ended, and each camera's newest fragments keep
// appearing.
func TestMinFreeKeepsRecording(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	e, _, dir := fullDiskServer(t, 32<<20, server.DefaultConfig().Storage.MinFree)
	ctx := servertest.Context(t, 3*time.Minute)
	// Six cameras write about 230 kB/s: leave 8 MiB (the 5% floor is
	// 1.6 MiB of it) so that the disk would be full within about 30 s,
	// after each camera has filled a 1 MiB segment (on a disk smaller than
	// a segment per camera the floor could only delete whole histories).
	datastreamstest.Fill(t, filepath.Join(dir, "filler"), 8<<20)
	start := time.Now()
	ended := make(chan string, 6)
	for i := range 6 {
		name := fmt.Sprintf("cam%d", i)
		go func() {
			err := (&rtspclient.FilePublisher{URL: e.RTSPURL(name), File: testClip, Loop: true}).Run(ctx)
			if ctx.Err() == nil {
				ended <- fmt.Sprintf("%s: %v", name, err)
			}
		}()
	}
	if !waitFor(90*time.Second, func() bool { return metric(t, e, "eddy_retention_floor_deletions_total") >= 2 }) {
		t.Fatalf("the floor deleted %v segments in 90 s, want ≥ 2", metric(t, e, "eddy_retention_floor_deletions_total"))
	}
	time.Sleep(6 * time.Second)
	am := e.ArchivedMedia()
	for i := range 6 {
		name := fmt.Sprintf("cam%d", i)
		frags := listAll(ctx, t, am, name, types.FragmentSelectorTypeServerTimestamp, start, time.Now())
		if len(frags) == 0 {
			t.Fatalf("%s: no fragments", name)
		}
		newest := *frags[len(frags)-1].ServerTimestamp
		if age := time.Since(newest); age > 6*time.Second {
			t.Errorf("%s: newest fragment is %v old, want a fresh one", name, age.Round(time.Millisecond))
		}
		checkFragments(ctx, t, am, name, nil)
	}
	select {
	case who := <-ended:
		t.Fatalf("a publication ended: %s", who)
	default:
	}
	if v := metric(t, e, "eddy_disk_full_errors_total"); v != 0 {
		t.Errorf("eddy_disk_full_errors_total = %v with the floor on, want 0", v)
	}
	t.Logf("after %v: %v segments deleted by the floor, %v bytes free", time.Since(start).Round(time.Second),
		metric(t, e, "eddy_retention_floor_deletions_total"), metric(t, e, "eddy_disk_free_bytes"))
}
