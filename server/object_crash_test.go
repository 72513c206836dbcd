package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// crashIngest is a PutMedia upload into a server that may be killed
// under it: the acks are read line by line and a cut answer is not an
// error.
type crashIngest struct {
	mu        sync.Mutex
	persisted []string
	errs      []string
	done      chan struct{}
}

func (c *crashIngest) acked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.persisted)
}

// startCrashIngest uploads the test clip looped, at rate × real time,
// with producer times from base on, until ctx ends or the server dies.
func startCrashIngest(ctx context.Context, t *testing.T, url, stream string, base time.Time, loops int, rate string) *crashIngest {
	t.Helper()
	ff := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-readrate", rate, "-stream_loop", strconv.Itoa(loops-1), "-i", testClip,
		"-c", "copy", "-cluster_time_limit", "10000", "-cluster_size_limit", "50000000", "-f", "matroska", "pipe:1")
	out, err := ff.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	c := &crashIngest{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer func() { _ = ff.Process.Kill(); _ = ff.Wait() }()
		pr, pw := io.Pipe()
		go func() { _, err := io.Copy(pw, out); pw.CloseWithError(err) }()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/putMedia", pr)
		req.Header.Set("x-amzn-stream-name", stream)
		req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
		req.Header.Set("x-amzn-producer-start-timestamp", unixSeconds(base))
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return // killed before the answer began
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var a struct {
				EventType, FragmentNumber string
				ErrorId                   int //nolint:revive // the ack's member name
			}
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue // a line cut by the kill
			}
			c.mu.Lock()
			switch a.EventType {
			case "PERSISTED":
				c.persisted = append(c.persisted, a.FragmentNumber)
			case "ERROR":
				c.errs = append(c.errs, fmt.Sprintf("error %d", a.ErrorId))
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// fragmentRead is one fragment as GetMediaForFragmentList gives it: a
// hash of its media (cluster timecode, the KVS tags, tracks, frames) and
// the events attached to it (EDDY_EVENT tags, which follow the events
// stream: an event lost with it is no longer attached).
type fragmentRead struct {
	media  string
	events string
}

// fragmentContents reads fragments with GetMediaForFragmentList, 25 an
// answer, by fragment number; an answer that lacks one fails the test.
func fragmentContents(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, nums []string) map[string]fragmentRead {
	t.Helper()
	out := map[string]fragmentRead{}
	for batch := range slices.Chunk(nums, 25) {
		resp, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(stream), Fragments: batch})
		if err != nil {
			t.Fatalf("GetMediaForFragmentList %v: %v", batch, err)
		}
		body, err := io.ReadAll(resp.Payload)
		resp.Payload.Close()
		if err != nil {
			t.Fatalf("GetMediaForFragmentList %v: %v", batch, err)
		}
		r := mkv.NewReader(bytes.NewReader(body))
		r.EmitOnClusterEnd = true
		for {
			f, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("GetMediaForFragmentList %v: %v", batch, err)
			}
			if len(f.Frames) == 0 {
				continue
			}
			h := sha256.New()
			fmt.Fprintf(h, "cluster %d\n", f.Timecode)
			var evs []string
			for _, tag := range append(slices.Clone(f.PreTags), f.PostTags...) {
				if tag.Name == "EDDY_EVENT" {
					var ev struct{ ID string }
					_ = json.Unmarshal([]byte(tag.Value), &ev)
					evs = append(evs, ev.ID+" "+sha([]byte(tag.Value)))
					continue
				}
				fmt.Fprintf(h, "tag %s=%s\n", tag.Name, tag.Value)
			}
			for _, tr := range f.Tracks {
				fmt.Fprintf(h, "track %d %s %x\n", tr.Number, tr.CodecID, tr.CodecPrivate)
			}
			for _, fr := range f.Frames {
				fmt.Fprintf(h, "frame %d %d %v %d\n", fr.Track, fr.Time, fr.Key, len(fr.Data))
				h.Write(fr.Data)
			}
			num, _ := f.Tag(mkv.TagFragmentNumber)
			out[num] = fragmentRead{media: hex.EncodeToString(h.Sum(nil)[:8]), events: strings.Join(evs, ",")}
		}
	}
	for _, n := range nums {
		if _, ok := out[n]; !ok {
			t.Fatalf("GetMediaForFragmentList: fragment %s missing from the answer", n)
		}
	}
	return out
}

// allFragments lists a stream's fragments by server time (the last hour)
// in fragment-number order, failing on a number listed twice.
func allFragments(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string) []types.Fragment {
	t.Helper()
	frags := listAll(ctx, t, am, stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	seen := map[string]bool{}
	for _, f := range frags {
		if seen[*f.FragmentNumber] {
			t.Errorf("ListFragments lists fragment %s twice", *f.FragmentNumber)
		}
		seen[*f.FragmentNumber] = true
	}
	return sortedByNumber(frags)
}

// sortedByNumber sorts fragments by number (decimal strings: the
// shorter is the smaller).
func sortedByNumber(frags []types.Fragment) []types.Fragment {
	slices.SortFunc(frags, func(a, b types.Fragment) int {
		if len(*a.FragmentNumber) != len(*b.FragmentNumber) {
			return len(*a.FragmentNumber) - len(*b.FragmentNumber)
		}
		return strings.Compare(*a.FragmentNumber, *b.FragmentNumber)
	})
	return frags
}

// checkBucketMatchesLogs checks the bucket against the data directory:
// the .seg objects are exactly the segments with a local upload record
// (<base>.up), at the size it records; each has its sparse index
// (.idx) beside it; no multipart upload is left unfinished.
func checkBucketMatchesLogs(t *testing.T, store *objTestStore, data string) int {
	t.Helper()
	objs := store.list(t, "")
	segs, idxs := segKeys(objs, ".seg"), segKeys(objs, ".idx")
	want := map[string]int64{}
	for dir, lf := range dataLogs(t, data) {
		for _, up := range lf.ups {
			want[dir+"/"+up+".seg"] = upRecordSize(t, filepath.Join(data, filepath.FromSlash(dir), up+".up"))
		}
	}
	for key, size := range want {
		got, ok := segs[key]
		switch {
		case !ok:
			t.Errorf("%s: recorded as uploaded, not in the bucket", key)
		case got != size:
			t.Errorf("%s: %d bytes in the bucket, the upload record says %d", key, got, size)
		}
		if _, ok := idxs[strings.TrimSuffix(key, ".seg")+".idx"]; !ok {
			t.Errorf("%s: no sparse index beside it in the bucket", key)
		}
	}
	for key := range segs {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: in the bucket with no upload record in the data directory (an orphan)", key)
		}
	}
	if ups := store.pendingUploads(t); len(ups) > 0 {
		t.Errorf("unfinished multipart uploads left: %v", ups)
	}
	return len(segs)
}

// TestObjectTierKill9 runs the eddy binary with hot 0s, ingesting with
// PutMedia at 20× real time (a 1 MiB segment sealed every second or so,
// uploads and local drops all along) and kills it with SIGKILL at a
// random moment, five times. After each restart every fragment acked
// PERSISTED is listed once and reads the same as it did after the
// previous restarts (most of them from the bucket by then). At the end,
// once nothing is pending, the bucket holds exactly the segments the
// logs record as uploaded: none missing, none twice, no orphan objects
// and no unfinished multipart upload.
func TestObjectTierKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the real binary five times; skipped with -short")
	}
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg")
	store := startObjStore(t)
	bin := buildEddy(t)
	cfg := writeConfig(t, store.objYAML("0s"))
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 17))
	t.Logf("seed %d", seed)
	const stream = "cam-kill"

	c := startChild(t, bin, cfg, dir)
	kv, _ := kvClients(c.url)
	ctx := servertest.Context(t, 5*time.Minute)
	createObjStream(ctx, t, kv, stream, 24)
	acked := map[string]bool{}
	contents := map[string]fragmentRead{} // by fragment number, from its first read
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for round := range 5 {
		ictx, cancel := context.WithCancel(ctx)
		in := startCrashIngest(ictx, t, c.url, stream, base.Add(time.Duration(round)*5*time.Minute), 10, "20")
		// Rounds 1 and 3 kill the server the moment an upload lands in
		// the bucket (the object is there, the upload record may not be);
		// the others at a random moment.
		mode := "at a random moment"
		if round%2 == 1 {
			mode = "as an upload landed"
			landed(t, store, 1500*time.Millisecond, 8*time.Second)
		} else {
			time.Sleep(time.Duration(1500+rng.IntN(3000)) * time.Millisecond)
		}
		c.kill(t)
		<-in.done
		cancel()
		got := in.acked()
		for _, n := range got {
			acked[n] = true
		}
		if len(in.errs) > 0 {
			t.Errorf("round %d: PutMedia errors %v", round, in.errs)
		}

		c = startChild(t, bin, cfg, dir)
		_, am := kvClients(c.url)
		frags := allFragments(ctx, t, am, stream)
		var nums []string
		listed := map[string]bool{}
		for _, f := range frags {
			nums = append(nums, *f.FragmentNumber)
			listed[*f.FragmentNumber] = true
		}
		for n := range acked {
			if !listed[n] {
				t.Errorf("round %d: fragment %s acked PERSISTED, not listed after the restart", round, n)
			}
		}
		for n, h := range fragmentContents(ctx, t, am, stream, nums) {
			if was, ok := contents[n]; ok && was != h {
				t.Errorf("round %d: fragment %s reads differently after the restart", round, n)
			}
			contents[n] = h
		}
		fams := scrapeURL(t, c.url)
		t.Logf("round %d: killed %s after %d acks; %d fragments listed, %v segments uploaded since the restart, %d .up records",
			round, mode, len(got), len(nums), objMetric(fams, "eddy_object_uploaded_segments_total"), countUps(t, dir))
		if t.Failed() {
			return
		}
	}

	// The last restart's reconciliation and uploads, a retention pass
	// (janitor every 300 ms), then the bucket against the logs.
	waitTiered(t, c.url, dir, 5, time.Minute)
	time.Sleep(time.Second)
	n := checkBucketMatchesLogs(t, store, dir)
	if v := objMetric(scrapeURL(t, c.url), "eddy_object_lost_bytes_total"); v != 0 {
		t.Errorf("eddy_object_lost_bytes_total %v", v)
	}
	t.Logf("%d fragments acked, %d segments in the bucket", len(acked), n)
	c.stop(t)
}

// landed waits at least after, then until a new segment object appears
// in versitygw's directory (polled every 2 ms), or until within passed.
func landed(t *testing.T, store *objTestStore, after, within time.Duration) {
	t.Helper()
	count := func() int {
		n := 0
		_ = filepath.WalkDir(store.Dir(), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".seg") {
				n++
			}
			return nil
		})
		return n
	}
	time.Sleep(after)
	n0 := count()
	for deadline := time.Now().Add(within); time.Now().Before(deadline) && count() == n0; {
		time.Sleep(2 * time.Millisecond)
	}
}

func countUps(t *testing.T, dir string) int {
	n := 0
	for _, lf := range dataLogs(t, dir) {
		n += len(lf.ups)
	}
	return n
}

// eventRecord is one record of an events stream as GetRecords gives it.
type eventRecord struct{ Seq, Data string }

// readRecords reads a one-shard stream from TRIM_HORIZON to its end.
func readRecords(ctx context.Context, t *testing.T, k *kinesis.Client, stream string) []eventRecord {
	t.Helper()
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("GetShardIterator %s: %v", stream, err)
	}
	var out []eventRecord
	iter := it.ShardIterator
	for iter != nil {
		page, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatalf("GetRecords %s: %v", stream, err)
		}
		for _, r := range page.Records {
			out = append(out, eventRecord{Seq: *r.SequenceNumber, Data: string(r.Data)})
		}
		if len(page.Records) == 0 && aws.ToInt64(page.MillisBehindLatest) == 0 {
			break
		}
		iter = page.NextShardIterator
	}
	return out
}

// TestObjectTierRestore records a minute of video and 140 events of
// about 15 KB (two sealed segments of the video log, one of the events
// log) on the eddy binary with hot 0s, waits until the sealed segments
// are uploaded, notes ListFragments, each fragment's content and the
// clip of the first 10 s, stops the server and wipes its data directory.
// eddy restore --config CFG --data NEWDIR rebuilds a data directory from
// the bucket alone, and the server started on it lists the uploaded
// fragments as before (a prefix of the listing: the tail in the active
// segment was never uploaded), reads them the same, gives the same clip,
// and has the events of the uploaded events segment back, by GetRecords
// and by the events API (the timeline is rebuilt from the events log).
func TestObjectTierRestore(t *testing.T) {
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	store := startObjStore(t)
	bin := buildEddy(t)
	cfg := writeConfig(t, store.objYAML("0s"))
	dir := filepath.Join(t.TempDir(), "data")
	ctx := servertest.Context(t, 4*time.Minute)
	const stream = "cam-restore"

	c := startChild(t, bin, cfg, dir)
	kv, am := kvClients(c.url)
	createObjStream(ctx, t, kv, stream, 24)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	nums := ingestClip(ctx, t, c.url, stream, base, 3)
	k := (&servertest.Env{URL: c.url}).Kinesis()
	pad := strings.Repeat("x", 15000)
	var evs [][]byte
	for i := range 140 {
		at := base.Add(time.Duration(i) * 300 * time.Millisecond).UTC().Format(time.RFC3339Nano)
		evs = append(evs, fmt.Appendf(nil, `{"type":"note","time":%q,"label":"e%d","attributes":{"pad":%q}}`, at, i, pad))
	}
	for batch := range slices.Chunk(evs, 20) {
		putEvents(ctx, t, k, stream, batch)
	}
	waitTiered(t, c.url, dir, 3, time.Minute)
	// The mirrored files (stream.json, the fragment index) follow each
	// upload of their stream's segments; give the last mirror a moment.
	time.Sleep(2 * time.Second)

	frags := allFragments(ctx, t, am, stream)
	if len(frags) != len(nums) {
		t.Fatalf("%d fragments listed, %d acked", len(frags), len(nums))
	}
	var before []string
	var listed []string
	for _, f := range frags {
		before = append(before, fragmentLine(f))
		listed = append(listed, *f.FragmentNumber)
	}
	contents := fragmentContents(ctx, t, am, stream, listed)
	clipTo := frags[4].ProducerTimestamp.Add(time.Second)
	clip := producerClip(ctx, t, am, stream, *frags[0].ProducerTimestamp, clipTo)
	eventsBefore := readRecords(ctx, t, k, stream+".events")
	eventsAPIBefore, _ := eventPages(t, c.url+"/api/v1/streams/"+stream, eventsQuery(base), 1000)
	c.stop(t)

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	newDir := filepath.Join(t.TempDir(), "restored")
	cmd := exec.CommandContext(ctx, bin, "restore", "--config", cfg, "--data", newDir)
	cmd.Env = objEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("eddy restore: %v\n%s", err, out)
	}
	t.Logf("eddy restore said:\n%s", out)

	c = startChild(t, bin, cfg, newDir)
	_, am = kvClients(c.url)
	k = (&servertest.Env{URL: c.url}).Kinesis()
	// The restored node opens before its fragment index and event
	// timeline caught up with the log (they catch up in the background,
	// reading cold segments): wait until the listing stops growing.
	var after []types.Fragment
	for n, stable := -1, 0; stable < 3; time.Sleep(300 * time.Millisecond) {
		after = allFragments(ctx, t, am, stream)
		if len(after) == n {
			stable++
		} else {
			n, stable = len(after), 0
		}
	}
	if len(after) < 5 || len(after) > len(before) {
		t.Fatalf("restored: %d fragments listed, before %d (the first 13 or so are in the first uploaded segment)", len(after), len(before))
	}
	var restored []string
	for i, f := range after {
		if line := fragmentLine(f); line != before[i] {
			t.Errorf("restored fragment %d: %s\n    before: %s", i, line, before[i])
		}
		restored = append(restored, *f.FragmentNumber)
	}
	eventsAfter := readRecords(ctx, t, k, stream+".events")
	kept := map[string]bool{}
	for _, r := range eventsAfter {
		kept[r.Seq] = true
	}
	for n, h := range fragmentContents(ctx, t, am, stream, restored) {
		if h.media != contents[n].media {
			t.Errorf("restored fragment %s reads differently", n)
		}
		// Its events: those before that the restored events stream has.
		var want []string
		for _, ev := range strings.Split(contents[n].events, ",") {
			if id, _, _ := strings.Cut(ev, " "); kept[id] {
				want = append(want, ev)
			}
		}
		if got := strings.Join(want, ","); h.events != got {
			t.Errorf("restored fragment %s has events %q, want %q", n, h.events, got)
		}
	}
	if got := producerClip(ctx, t, am, stream, *frags[0].ProducerTimestamp, clipTo); sha(got) != sha(clip) {
		t.Errorf("GetClip of the first 10 s: %s (%d bytes) after the restore, %s (%d bytes) before", sha(got), len(got), sha(clip), len(clip))
	}

	// Events: those of the uploaded segment of the events log (the
	// first megabyte: 60 of the 15 KB events at least) are back, as they
	// were; the tail in the active segment was never uploaded.
	if len(eventsAfter) > len(eventsBefore) || !slices.Equal(eventsAfter, eventsBefore[:len(eventsAfter)]) {
		t.Fatalf("restored events stream: %d records, not a prefix of the %d before", len(eventsAfter), len(eventsBefore))
	}
	notes := 0
	for _, r := range eventsAfter {
		if strings.Contains(r.Data, `"type":"note"`) {
			notes++
		}
	}
	if notes < 60 {
		t.Errorf("restored events stream: %d of the 140 events back (%d records), want the 60 or more of its first segment", notes, len(eventsAfter))
	}
	var eventsAPI []apiEvent
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		eventsAPI, _ = eventPages(t, c.url+"/api/v1/streams/"+stream, eventsQuery(base), 1000)
		if len(eventsAPI) >= notes || time.Now().After(deadline) {
			break
		}
	}
	if len(eventsAPI) < notes || len(eventsAPI) > len(eventsAPIBefore) {
		t.Errorf("events API after the restore: %d events, %d before, %d in the restored log", len(eventsAPI), len(eventsAPIBefore), notes)
	}
	for i, ev := range eventsAPI[:min(len(eventsAPI), len(eventsAPIBefore))] {
		if b := eventsAPIBefore[i]; ev.ID != b.ID || ev.Type != b.Type || ev.Label != b.Label || !ev.Time.Equal(b.Time) || !ev.ServerTime.Equal(b.ServerTime) {
			t.Errorf("events API event %d: %+v, before %+v", i, ev, eventsAPIBefore[i])
		}
	}
	t.Logf("restored %d of %d fragments, %d of %d event records", len(after), len(before), len(eventsAfter), len(eventsBefore))
	c.stop(t)
}

// eventsQuery asks the events API for the events of the hour from base.
func eventsQuery(base time.Time) map[string][]string {
	return map[string][]string{"start": {rfc(base.Add(-time.Minute).UnixNano())}, "end": {rfc(base.Add(time.Hour).UnixNano())}, "limit": {"1000"}}
}

// producerClip is GetClip's MP4 over [from, to] in producer time.
func producerClip(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from, to time.Time) []byte {
	t.Helper()
	out, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(stream),
		ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeProducerTimestamp,
			TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatalf("GetClip: %v", err)
	}
	defer out.Payload.Close()
	b, err := io.ReadAll(out.Payload)
	if err != nil {
		t.Fatalf("GetClip: %v", err)
	}
	return b
}
