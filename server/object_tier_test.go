package server_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// readEverything reads a stream's archive by every read path and returns
// one line per answer (or part of one) with its hash:
//   - ListFragments (every member of every fragment);
//   - GetMediaForFragmentList of all fragments, in one answer;
//   - GetClip of the whole range (producer time);
//   - HLS ON_DEMAND over the range, and LIVE_REPLAY from its start:
//     master and media playlist (session tokens masked: each session has
//     its own), the init segment and every media segment named;
//   - GetMedia from the earliest fragment to the last (per fragment: its
//     timecode, tags but MILLIS_BEHIND_NOW, which is the age of the
//     fragment when sent, tracks and frames);
//   - GetImages over the range, a JPEG every 3 s.
func readEverything(ctx context.Context, t *testing.T, url, stream string, base time.Time, n int) []string {
	t.Helper()
	_, am := kvClients(url)
	frags := sortedFragments(ctx, t, am, stream, base)
	if len(frags) != n {
		t.Fatalf("ListFragments: %d fragments, %d acked", len(frags), n)
	}
	var out, nums []string
	for _, f := range frags {
		out = append(out, "ListFragments "+fragmentLine(f))
		nums = append(nums, *f.FragmentNumber)
	}
	all, err := getFragments(ctx, am, stream, nums)
	if err != nil {
		t.Fatalf("GetMediaForFragmentList of all %d fragments: %v", len(nums), err)
	}
	out = append(out, "GetMediaForFragmentList "+sha(all))
	from, to := *frags[0].ProducerTimestamp, frags[len(frags)-1].ProducerTimestamp.Add(time.Second)
	clip, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(stream),
		ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatalf("GetClip: %v", err)
	}
	b, err := io.ReadAll(clip.Payload)
	clip.Payload.Close()
	if err != nil {
		t.Fatalf("GetClip: %v", err)
	}
	mediatest.FFmpegDecodes(t, b)
	out = append(out, "GetClip "+sha(b))
	for _, mode := range []types.HLSPlaybackMode{types.HLSPlaybackModeOnDemand, types.HLSPlaybackModeLiveReplay} {
		for _, l := range hlsHashes(ctx, t, am, stream, mode, from, to) {
			out = append(out, "HLS "+string(mode)+" "+l)
		}
	}
	gm, gmNums := getMediaHash(ctx, t, url, stream, n)
	if strings.Join(gmNums, ",") != strings.Join(nums, ",") {
		t.Fatalf("GetMedia EARLIEST read fragments %v, ListFragments lists %v", gmNums, nums)
	}
	out = append(out, "GetMedia "+gm)
	for _, l := range imageHashes(ctx, t, am, stream, from, to) {
		out = append(out, "GetImages "+l)
	}
	return out
}

// sameLines reports every line of got that differs from want.
func sameLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d answers, before %d:\n%s\nbefore:\n%s", what, len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
		return
	}
	for i := range want {
		if want[i] != got[i] {
			t.Errorf("%s: %s\n    before: %s", what, got[i], want[i])
		}
	}
}

// TestObjectTierReadsIdentical records a minute of the test clip (three
// loops, about 2.3 MB: two sealed 1 MiB segments and the active one)
// with PutMedia on a fake clock, waits until the sealed segments are
// uploaded (they stay local: hot is 1h), and reads the archive by every
// read path; then moves the clock two hours on, so that the hot policy
// drops the local copies, waits until only the active segment of each
// log is left on disk, and reads everything again: every answer is
// byte-identical, and the reads went to the bucket (cache misses).
func TestObjectTierReadsIdentical(t *testing.T) {
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	store := startObjStore(t)
	clk := servertest.NewClock(time.Now())
	e := servertest.StartWithClock(t, objConfig(t, store.objYAML("1h")), clk)
	ctx := servertest.Context(t, 4*time.Minute)
	const stream = "cam-tier"
	createObjStream(ctx, t, e.KinesisVideo(), stream, 24)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	nums := ingestClip(ctx, t, e.URL, stream, base, 3)

	// Uploaded, still hot: every uploaded segment is still on local disk.
	objWaitUntil(t, time.Minute, "the sealed segments uploaded", func() (bool, string) {
		fams := scrapeURL(t, e.URL)
		uploaded, pending := objMetric(fams, "eddy_object_uploaded_segments_total"), objMetric(fams, "eddy_object_pending_segments")
		return uploaded >= 2 && pending == 0, fmt.Sprintf("uploaded %v, pending %v", uploaded, pending)
	})
	for dir, lf := range dataLogs(t, e.Dir) {
		for _, up := range lf.ups {
			if !slices.Contains(lf.segs, up) {
				t.Fatalf("%s: segment %s uploaded and gone from local disk with hot 1h", dir, up)
			}
		}
	}
	before := readEverything(ctx, t, e.URL, stream, base, len(nums))
	missesBefore := objMetric(scrapeURL(t, e.URL), "eddy_object_cache_misses_total")

	clk.Advance(2 * time.Hour)
	waitTiered(t, e.URL, e.Dir, 2, time.Minute)
	// The counter follows the removal of the files by a moment.
	objWaitUntil(t, 5*time.Second, "the local drops counted", func() (bool, string) {
		v := objMetric(scrapeURL(t, e.URL), "eddy_object_local_dropped_bytes_total")
		return v >= 2<<20, fmt.Sprintf("eddy_object_local_dropped_bytes_total %v, want two 1 MiB segments or more", v)
	})
	fams := scrapeURL(t, e.URL)
	if v := objMetric(fams, "eddy_object_available"); v != 1 {
		t.Errorf("eddy_object_available %v", v)
	}
	segs := segKeys(store.list(t, ""), ".seg")
	for dir, lf := range dataLogs(t, e.Dir) {
		for _, up := range lf.ups {
			if _, ok := segs[dir+"/"+up+".seg"]; !ok {
				t.Errorf("%s/%s.up: no object %s/%s.seg in the bucket (it has %v)", dir, up, dir, up, segs)
			}
		}
	}

	after := readEverything(ctx, t, e.URL, stream, base, len(nums))
	sameLines(t, "after tiering", before, after)
	if misses := objMetric(scrapeURL(t, e.URL), "eddy_object_cache_misses_total"); misses <= missesBefore {
		t.Errorf("eddy_object_cache_misses_total %v after the cold reads, %v before: the reads did not go to the bucket", misses, missesBefore)
	}
	t.Logf("%d answers identical after tiering %d segments", len(after), len(segs))
}

// TestObjectTierConcurrentColdReaders: 100 clients read the same cold
// fragment at once with GetMediaForFragmentList. Every answer is the
// same, and the object store was asked for no more blocks than the
// fragment's segment has (eddy_object_cold_read_seconds counts each
// ranged GET): the first cold byte is fetched once, not once a reader.
func TestObjectTierConcurrentColdReaders(t *testing.T) {
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg")
	store := startObjStore(t)
	e := servertest.StartConfig(t, objConfig(t, store.objYAML("0s")))
	ctx := servertest.Context(t, 2*time.Minute)
	const stream = "cam-readers"
	createObjStream(ctx, t, e.KinesisVideo(), stream, 24)
	nums := ingestClip(ctx, t, e.URL, stream, time.Now().Add(-time.Hour).Truncate(time.Millisecond), 3)
	waitTiered(t, e.URL, e.Dir, 2, time.Minute)
	// The largest uploaded segment bounds the blocks (1 MiB each) one
	// fragment of the first can need.
	var maxSize int64
	for dir, lf := range dataLogs(t, e.Dir) {
		for _, up := range lf.ups {
			maxSize = max(maxSize, upRecordSize(t, filepath.Join(e.Dir, filepath.FromSlash(dir), up+".up")))
		}
	}
	blocks := float64((maxSize + 1<<20 - 1) >> 20)
	fetches := func() float64 { return objMetric(scrapeURL(t, e.URL), "eddy_object_cold_read_seconds") }
	before := fetches()

	_, am := kvClients(e.URL)
	const readers = 100
	answers := make([]string, readers)
	errs := make([]error, readers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range readers {
		wg.Go(func() {
			<-start
			b, err := getFragments(ctx, am, stream, nums[1:2])
			answers[i], errs[i] = sha(b), err
		})
	}
	close(start)
	wg.Wait()
	for i := range readers {
		if errs[i] != nil {
			t.Fatalf("reader %d: %v", i, errs[i])
		}
		if answers[i] != answers[0] {
			t.Errorf("reader %d read %s, reader 0 %s", i, answers[i], answers[0])
		}
	}
	if got := fetches() - before; got < 1 || got > blocks {
		t.Errorf("%v block fetches from the object store for %d concurrent readers of one cold fragment, want 1 to %v (the blocks of its segment)", got, readers, blocks)
	} else {
		t.Logf("%d readers, %v block fetches", readers, got)
	}
}

// TestObjectTierDataStream: a Kinesis data stream's sealed segments tier
// like a video stream's. 260 records of 10 KB (about 2.6 MB: two sealed
// 1 MiB segments and the active one) written with PutRecords, the segments uploaded and dropped
// locally (hot 0s), then GetRecords from TRIM_HORIZON reads every record
// back from the bucket, at its acknowledged sequence number, byte for
// byte.
func TestObjectTierDataStream(t *testing.T) {
	t.Parallel()
	store := startObjStore(t)
	e := servertest.StartConfig(t, objConfig(t, store.objYAML("0s")))
	ctx := servertest.Context(t, 2*time.Minute)
	k := e.Kinesis()
	const stream = "ds-tier"
	createStream(t, k, stream, 1)
	servertest.WaitStreamActive(t, k, stream)
	var sent []eventRecord
	rng := rand.NewChaCha8([32]byte{17})
	for range 13 {
		in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
		for range 20 {
			data := make([]byte, 10000) // random: the log may compress
			_, _ = rng.Read(data)       // ChaCha8.Read never fails
			in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String("p")})
		}
		out, err := k.PutRecords(ctx, in)
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v", err)
		}
		for i, r := range out.Records {
			sent = append(sent, eventRecord{Seq: *r.SequenceNumber, Data: string(in.Records[i].Data)})
		}
	}
	waitTiered(t, e.URL, e.Dir, 2, time.Minute)
	before := objMetric(scrapeURL(t, e.URL), "eddy_object_cold_read_seconds")
	got := readRecords(ctx, t, k, stream)
	if len(got) != len(sent) {
		t.Fatalf("GetRecords read %d records, %d written", len(got), len(sent))
	}
	for i := range sent {
		if got[i] != sent[i] {
			t.Errorf("record %d: %s (%d bytes), written %s (%d bytes)", i, got[i].Seq, len(got[i].Data), sent[i].Seq, len(sent[i].Data))
		}
	}
	if after := objMetric(scrapeURL(t, e.URL), "eddy_object_cold_read_seconds"); after <= before {
		t.Errorf("no block fetched from the bucket by GetRecords of tiered segments (%v fetches before, %v after)", before, after)
	}
}
