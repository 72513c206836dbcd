package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/server/servertest"
)

// The upgrade fixture: a data directory written by Eddy at e39c71d (data
// format 1, before format markers), and what that Eddy answered when it
// read it back (testdata/README.md says how both were made).
var (
	fixtureV1     = filepath.Join("..", "testdata", "datadir-v1")
	fixtureV1Want = filepath.Join("..", "testdata", "datadir-v1.want.json")
)

// What the fixture holds, written by the generator (upgrade_fixture_test.go).
const (
	fixtureOrders       = "orders"  // 3 shards, shard 0 split after 30 records; 168 h; consumer "audit"
	fixtureSensors      = "sensors" // 1 shard, binary records
	fixtureVideo        = "lobby"   // 720 h, a few seconds of testdata/cam-h264-aac.mp4
	fixtureOrderRecords = 60
	fixtureSensorCount  = 10
)

func fixtureOrderData(i int) string { return fmt.Sprintf("orders-record-%03d", i) }

func fixtureSensorData(i int) []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("sensors-%d", i)))
	return h[:]
}

// fixtureWant is what Eddy answered for the fixture, read at Clock, and
// the tokens it minted then (a newer Eddy must still accept them: the
// key files survive an upgrade).
type fixtureWant struct {
	Clock time.Time   `json:"clock"`
	View  fixtureView `json:"view"`
	// OrdersIterator is a TRIM_HORIZON iterator of orders' shardId-000000000001.
	OrdersIterator string `json:"ordersIterator"`
	// HLSURL is an ON_DEMAND session URL of the video stream over its fragments.
	HLSURL string `json:"hlsURL"`
}

// fixtureView is everything a client can read of the fixture.
type fixtureView struct {
	DataStreams []dataStreamView  `json:"dataStreams"`
	Videos      []videoView       `json:"videos"`
	Keys        map[string]string `json:"keys"` // key file → sha256
}

type dataStreamView struct {
	Name, ARN, Status, Mode, Encryption string
	Created                             time.Time
	RetentionHours, OpenShards          int32
	Tags                                map[string]string
	Consumers                           []consumerView
	Shards                              []shardView
}

type consumerView struct {
	Name, ARN, Status string
	Created           time.Time
}

type shardView struct {
	ID, Parent, AdjacentParent, HashStart, HashEnd, SeqStart, SeqEnd string
	Records                                                          []recordView
}

type recordView struct {
	Seq, Key string
	Data     []byte
	Arrival  time.Time
}

type videoView struct {
	Name, ARN, Version, DeviceName, MediaType, KmsKeyID, Status string
	Created                                                     time.Time
	RetentionHours                                              int32
	Tags                                                        map[string]string
	Fragments                                                   []fragmentView
	MediaSHA256, ClipSHA256, HLSMaster, HLSMedia, HLSSHA256     string
}

type fragmentView struct {
	Number              string
	Server, Producer    time.Time
	LengthMillis, Bytes int64
}

// copyFixture copies a committed data directory into a temporary one,
// which the server may change.
func copyFixture(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// observeFixture reads back everything of a server's data through its
// public APIs, as of clk.
func observeFixture(ctx context.Context, t testing.TB, e *servertest.Env, clk time.Time) fixtureView {
	t.Helper()
	v := fixtureView{Keys: map[string]string{}}
	for _, k := range []string{"token.key", "hls.key", "auth.key"} {
		v.Keys[k] = fileSHA256(t, filepath.Join(e.Dir, k))
	}
	kc := e.Kinesis()
	names, err := kc.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names.StreamNames {
		v.DataStreams = append(v.DataStreams, observeDataStream(ctx, t, kc, n))
	}
	kv := e.KinesisVideo()
	vids, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range vids.StreamInfoList {
		v.Videos = append(v.Videos, observeVideo(ctx, t, e, aws.ToString(s.StreamName), clk))
	}
	return v
}

func fileSHA256(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256Hex(b)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func observeDataStream(ctx context.Context, t testing.TB, kc *kinesis.Client, name string) dataStreamView {
	t.Helper()
	sum, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	s := sum.StreamDescriptionSummary
	v := dataStreamView{Name: name, ARN: aws.ToString(s.StreamARN), Status: string(s.StreamStatus),
		Mode: string(s.StreamModeDetails.StreamMode), Encryption: string(s.EncryptionType), Created: aws.ToTime(s.StreamCreationTimestamp),
		RetentionHours: aws.ToInt32(s.RetentionPeriodHours), OpenShards: aws.ToInt32(s.OpenShardCount), Tags: map[string]string{}}
	tags, err := kc.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags.Tags {
		v.Tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	cons, err := kc.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: s.StreamARN})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cons.Consumers {
		v.Consumers = append(v.Consumers, consumerView{Name: aws.ToString(c.ConsumerName), ARN: aws.ToString(c.ConsumerARN),
			Status: string(c.ConsumerStatus), Created: aws.ToTime(c.ConsumerCreationTimestamp)})
	}
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards.Shards {
		sv := shardView{ID: aws.ToString(sh.ShardId), Parent: aws.ToString(sh.ParentShardId), AdjacentParent: aws.ToString(sh.AdjacentParentShardId),
			HashStart: aws.ToString(sh.HashKeyRange.StartingHashKey), HashEnd: aws.ToString(sh.HashKeyRange.EndingHashKey),
			SeqStart: aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber), SeqEnd: aws.ToString(sh.SequenceNumberRange.EndingSequenceNumber)}
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		sv.Records = readAllRecords(ctx, t, kc, it.ShardIterator)
		v.Shards = append(v.Shards, sv)
	}
	return v
}

// readAllRecords reads a shard from it to its end (a closed shard) or its
// tip (an open one).
func readAllRecords(ctx context.Context, t testing.TB, kc *kinesis.Client, it *string) []recordView {
	t.Helper()
	var out []recordView
	for it != nil {
		r, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range r.Records {
			out = append(out, recordView{Seq: aws.ToString(rec.SequenceNumber), Key: aws.ToString(rec.PartitionKey), Data: rec.Data, Arrival: aws.ToTime(rec.ApproximateArrivalTimestamp)})
		}
		it = r.NextShardIterator
		if len(r.Records) == 0 && aws.ToInt64(r.MillisBehindLatest) == 0 {
			break
		}
	}
	return out
}

func observeVideo(ctx context.Context, t testing.TB, e *servertest.Env, name string, clk time.Time) videoView {
	t.Helper()
	d, err := e.KinesisVideo().DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	si := d.StreamInfo
	v := videoView{Name: name, ARN: aws.ToString(si.StreamARN), Version: aws.ToString(si.Version), DeviceName: aws.ToString(si.DeviceName),
		MediaType: aws.ToString(si.MediaType), KmsKeyID: aws.ToString(si.KmsKeyId), Status: string(si.Status), Created: aws.ToTime(si.CreationTime),
		RetentionHours: aws.ToInt32(si.DataRetentionInHours)}
	tags, err := e.KinesisVideo().ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	v.Tags = tags.Tags
	am := e.ArchivedMedia()
	from, to := v.Created.Add(-time.Minute), clk
	var nums []string
	for _, f := range listAllTB(ctx, t, am, name, from, to) {
		v.Fragments = append(v.Fragments, fragmentView{Number: aws.ToString(f.FragmentNumber), Server: aws.ToTime(f.ServerTimestamp),
			Producer: aws.ToTime(f.ProducerTimestamp), LengthMillis: f.FragmentLengthInMilliseconds, Bytes: f.FragmentSizeInBytes})
		nums = append(nums, aws.ToString(f.FragmentNumber))
	}
	if len(nums) == 0 {
		return v
	}
	mkv, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String(name), Fragments: nums})
	if err != nil {
		t.Fatal(err)
	}
	v.MediaSHA256 = sha256Hex(readAllClose(t, mkv.Payload))
	clip, err := am.GetClip(ctx, &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(name),
		ClipFragmentSelector: &types.ClipFragmentSelector{FragmentSelectorType: types.ClipFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.ClipTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	v.ClipSHA256 = sha256Hex(readAllClose(t, clip.Payload))
	v.HLSMaster, v.HLSMedia, v.HLSSHA256 = observeHLS(t, hlsOnDemandURL(ctx, t, am, name, from, to))
	return v
}

func listAllTB(ctx context.Context, t testing.TB, am *kinesisvideoarchivedmedia.Client, name string, from, to time.Time) []types.Fragment {
	t.Helper()
	var out []types.Fragment
	p := kinesisvideoarchivedmedia.NewListFragmentsPaginator(am, &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(name),
		FragmentSelector: &types.FragmentSelector{FragmentSelectorType: types.FragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.TimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Fragments...)
	}
	return out
}

func readAllClose(t testing.TB, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hlsOnDemandURL(ctx context.Context, t testing.TB, am *kinesisvideoarchivedmedia.Client, name string, from, to time.Time) string {
	t.Helper()
	out, err := am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(name),
		PlaybackMode: types.HLSPlaybackModeOnDemand,
		HLSFragmentSelector: &types.HLSFragmentSelector{FragmentSelectorType: types.HLSFragmentSelectorTypeServerTimestamp,
			TimestampRange: &types.HLSTimestampRange{StartTimestamp: &from, EndTimestamp: &to}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.HLSStreamingSessionURL)
}

var sessionToken = regexp.MustCompile(`SessionToken=[^&\s"]+`)

// observeHLS returns a session's master and media playlists (session
// tokens blanked) and the checksum of its init segment and fragments.
func observeHLS(t testing.TB, master string) (string, string, string) {
	t.Helper()
	m := getOK(t, master)
	media := getOK(t, playlistURIs(master, m)[0])
	h := sha256.New()
	for _, u := range playlistURIs(master, media) {
		h.Write([]byte(getOK(t, u)))
	}
	for _, l := range strings.Split(media, "\n") {
		if strings.HasPrefix(l, "#EXT-X-MAP:URI=") {
			u := strings.TrimSuffix(strings.TrimPrefix(l, `#EXT-X-MAP:URI="`), `"`)
			h.Write([]byte(getOK(t, playlistURIs(master, u)[0])))
		}
	}
	blank := func(s string) string { return sessionToken.ReplaceAllString(s, "SessionToken=X") }
	return blank(m), blank(media), hex.EncodeToString(h.Sum(nil))
}

func readFixtureWant(t *testing.T) fixtureWant {
	t.Helper()
	b, err := os.ReadFile(fixtureV1Want)
	if err != nil {
		t.Fatal(err)
	}
	var w fixtureWant
	if err := json.Unmarshal(b, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestUpgradeFromFormat1 opens the data directory an earlier Eddy wrote
// and reads back, through every public API, exactly what that Eddy read
// back: records, shards and their lineage, consumers, tags, retention,
// fragments, clip and MKV bytes, HLS playlists and segments; the tokens it
// minted still work.
func TestUpgradeFromFormat1(t *testing.T) {
	want := readFixtureWant(t)
	checkFixtureContent(t, want.View)
	cfg := servertest.Config(t)
	cfg.Data = copyFixture(t, fixtureV1)
	e := servertest.StartWithClock(t, cfg, servertest.NewClock(want.Clock))
	ctx := servertest.Context(t, 2*time.Minute)
	got := observeFixture(ctx, t, e, want.Clock)
	diffJSON(t, "fixture read back", want.View, got)

	// The old iterator reads orders' shard 1 from its start.
	recs := readAllRecords(ctx, t, e.Kinesis(), aws.String(want.OrdersIterator))
	if wantRecs := shardOf(want.View, fixtureOrders, "shardId-000000000001").Records; !equalRecords(recs, wantRecs) {
		t.Errorf("the iterator minted before the upgrade read %d records, want %d", len(recs), len(wantRecs))
	}
	// The old HLS session still plays (on this server's address).
	u, err := url.Parse(want.HLSURL)
	if err != nil {
		t.Fatal(err)
	}
	m, media, sum := observeHLS(t, e.URL+u.RequestURI())
	if v := want.View.Videos[0]; m != v.HLSMaster || media != v.HLSMedia || sum != v.HLSSHA256 {
		t.Errorf("the HLS session minted before the upgrade plays differently:\n%s\nwant\n%s", media, v.HLSMedia)
	}
}

// checkFixtureContent checks that the fixture holds what the generator
// wrote, so that a regenerated fixture cannot quietly test less.
func checkFixtureContent(t *testing.T, v fixtureView) {
	t.Helper()
	orders := streamOf(v, fixtureOrders)
	if orders == nil || orders.RetentionHours != 168 || len(orders.Consumers) != 1 || orders.Consumers[0].Name != "audit" ||
		orders.Tags["team"] != "video-ops" || len(orders.Shards) != 5 || orders.OpenShards != 4 {
		t.Fatalf("fixture: orders is %+v", orders)
	}
	var data []string
	for _, sh := range orders.Shards {
		for _, r := range sh.Records {
			data = append(data, string(r.Data))
		}
	}
	sort.Strings(data)
	for i := 0; i < fixtureOrderRecords; i++ {
		if i >= len(data) || data[i] != fixtureOrderData(i) {
			t.Fatalf("fixture: orders records %v", data)
		}
	}
	sensors := streamOf(v, fixtureSensors)
	if sensors == nil || len(sensors.Shards) != 1 || len(sensors.Shards[0].Records) != fixtureSensorCount {
		t.Fatalf("fixture: sensors is %+v", sensors)
	}
	for i, r := range sensors.Shards[0].Records {
		if string(r.Data) != string(fixtureSensorData(i)) {
			t.Fatalf("fixture: sensors record %d is %x", i, r.Data)
		}
	}
	if len(v.Videos) != 1 || v.Videos[0].Name != fixtureVideo || v.Videos[0].RetentionHours != 720 || len(v.Videos[0].Fragments) < 3 {
		t.Fatalf("fixture: videos %+v", v.Videos)
	}
	events := streamOf(v, fixtureVideo+".events")
	if events == nil || len(events.Shards) != 1 || len(events.Shards[0].Records) != len(v.Videos[0].Fragments)+1 {
		t.Fatalf("fixture: %s.events is %+v", fixtureVideo, events)
	}
}

func streamOf(v fixtureView, name string) *dataStreamView {
	for i := range v.DataStreams {
		if v.DataStreams[i].Name == name {
			return &v.DataStreams[i]
		}
	}
	return nil
}

func shardOf(v fixtureView, stream, id string) shardView {
	if s := streamOf(v, stream); s != nil {
		for _, sh := range s.Shards {
			if sh.ID == id {
				return sh
			}
		}
	}
	return shardView{}
}

func equalRecords(a, b []recordView) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// diffJSON fails the test when got differs from want, showing the first
// differing lines of their indented JSON.
func diffJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	wb, _ := json.MarshalIndent(want, "", " ")
	gb, _ := json.MarshalIndent(got, "", " ")
	if string(wb) == string(gb) {
		return
	}
	wl, gl := strings.Split(string(wb), "\n"), strings.Split(string(gb), "\n")
	for i := 0; i < min(len(wl), len(gl)); i++ {
		if wl[i] != gl[i] {
			lo := max(0, i-3)
			t.Fatalf("%s differs at line %d:\nwant:\n%s\ngot:\n%s", what, i+1,
				strings.Join(wl[lo:min(len(wl), i+4)], "\n"), strings.Join(gl[lo:min(len(gl), i+4)], "\n"))
		}
	}
	t.Fatalf("%s differs in length: %d lines, want %d", what, len(gl), len(wl))
}

// TestUpgradedFixtureReopens: the fixture, opened once, is marked with the
// current format, its stream directories (named by stream name, format 1)
// kept as they were; a stream created after the upgrade gets a directory
// of format 2 (a short id), and after a restart both read back as before.
func TestUpgradedFixtureReopens(t *testing.T) {
	want := readFixtureWant(t)
	cfg := servertest.Config(t)
	cfg.Data = copyFixture(t, fixtureV1)
	old := dirNames(t, filepath.Join(cfg.Data, "streams"))
	clk := servertest.NewClock(want.Clock)
	e := servertest.StartWithClock(t, cfg, clk)
	ctx := servertest.Context(t, 2*time.Minute)
	b, err := os.ReadFile(filepath.Join(cfg.Data, "FORMAT"))
	if err != nil || !strings.HasPrefix(string(b), "2\n") {
		t.Fatalf("FORMAT after the upgrade: %q, %v", b, err)
	}
	if _, err := e.Kinesis().CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("after-upgrade"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Kinesis().PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("after-upgrade"), PartitionKey: aws.String("k"), Data: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	now := dirNames(t, filepath.Join(cfg.Data, "streams"))
	if len(now) != len(old)+1 || strings.Join(now[:len(old)], ",") != strings.Join(old, ",") || !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(now[len(old)]) {
		t.Fatalf("stream directories %v, want %v and one of 16 hex digits", now, old)
	}

	e.Server.Close()
	e = servertest.StartWithClock(t, cfg, clk)
	if _, err := e.Kinesis().DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("after-upgrade")}); err != nil {
		t.Fatal(err)
	}
	diffJSON(t, "fixture read back after an upgrade and a restart", want.View, observeFixture(ctx, t, e, want.Clock))
}

// dirNames lists the directories in dir: format-1 names first (sorted),
// then 16-hex-digit ids.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names, ids []string
	for _, e := range entries {
		if regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(e.Name()) {
			ids = append(ids, e.Name())
		} else {
			names = append(names, e.Name())
		}
	}
	return append(names, ids...)
}
