package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// scrape reads the server's /metrics with Prometheus's own parser.
func scrape(t testing.TB, e *servertest.Env) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// sample returns the value of the series of family name whose labels
// include want (the sum when several match), and whether one did.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, m := range fams[name].GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		found = true
		switch {
		case m.GetCounter() != nil:
			sum += m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// streamLabels returns the values of the stream label in family name.
func streamLabels(fams map[string]*dto.MetricFamily, name string) []string {
	set := map[string]bool{}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "stream" {
				set[l.GetValue()] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// seriesOf lists the families that still have a series of stream.
func seriesOf(fams map[string]*dto.MetricFamily, stream string) []string {
	var out []string
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			if hasLabels(m, map[string]string{"stream": stream}) {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// want checks the value of a series.
func want(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, cmp func(float64) bool, what string) {
	t.Helper()
	v, ok := sample(fams, name, labels)
	if !ok || !cmp(v) {
		t.Errorf("%s%v = %v (present %v), want %s", name, labels, v, ok, what)
	}
}

func positive(v float64) bool { return v > 0 }

func equal(n float64) func(float64) bool { return func(v float64) bool { return v == n } }

// kdsTraffic puts and reads records of stream "kds" (PROVISIONED, limits
// low enough that some are refused), and subscribes a consumer twice to
// its shard. It returns the records stored and refused, and what ends
// the subscription.
func kdsTraffic(t *testing.T, kc *kinesis.Client) (stored, throttled int, unsubscribe func()) {
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "kds", 1)
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("kds"), PartitionKey: aws.String("k"), Data: []byte("one")}); err != nil {
		t.Fatal(err)
	}
	entries := make([]ktypes.PutRecordsRequestEntry, 5)
	for i := range entries {
		entries[i] = ktypes.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("many")}
	}
	out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("kds"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	throttled = int(*out.FailedRecordCount)
	if throttled == 0 {
		t.Fatal("no record of PutRecords refused: the write limit did not apply")
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("kds"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); err != nil {
		t.Fatal(err)
	}
	// The shard allows one read a second: the second is refused.
	if _, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); apiCode(err) != "ProvisionedThroughputExceededException" {
		t.Fatalf("second GetRecords: %v, want ProvisionedThroughputExceededException", err)
	}
	carn := registerConsumer(t, kc, "kds", "efo")
	sub, err := subscribe(t, kc, carn, ktypes.ShardIteratorTypeTrimHorizon, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.GetStream().Events(); !ok {
		t.Fatalf("no SubscribeToShard event: %v", sub.GetStream().Err())
	}
	// A second subscription within 5 s of the first is refused.
	if _, err := subscribe(t, kc, carn, ktypes.ShardIteratorTypeTrimHorizon, nil); apiCode(err) != "ResourceInUseException" {
		t.Fatalf("second subscription: %v, want ResourceInUseException", err)
	}
	return 6 - throttled, throttled, func() { sub.GetStream().Close() }
}

// videoTraffic publishes testClip to "cam" over RTSP for 5 s with a
// refused second publisher, a WHEP viewer and an HLS session while it is
// live, then reads its archive (ListFragments, GetMediaForFragmentList,
// GetClip). live is called while the publication, the viewer and the
// HLS session are open.
func videoTraffic(t *testing.T, e *servertest.Env, live func()) {
	ctx := servertest.Context(t, time.Minute)
	start := time.Now()
	_, _, done := publish(ctx, e.RTSPURL("cam"), 5*time.Second, "tcp")
	waitLive(t, e, "cam")
	_, _, busy := publish(ctx, e.RTSPURL("cam"), time.Second, "tcp")
	if err := <-busy; err == nil {
		t.Fatal("a second publisher of cam was let in")
	}
	v, err := newWHEPViewer(ctx, t, e.URL+"/webrtc/cam/whep")
	if err != nil {
		t.Fatal(err)
	}
	am := e.ArchivedMedia()
	// A LIVE session needs the publication's first fragment.
	var hs *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if hs, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam")}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, _, _ := httpGet(t, *hs.HLSStreamingSessionURL); code != http.StatusOK {
		t.Fatalf("HLS master playlist: %d", code)
	}
	live()
	if code, err := whepclient.EndSession(ctx, http.DefaultClient, v.session); code != http.StatusOK {
		t.Fatalf("end WHEP session: %d %v", code, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	frags := waitFragments(ctx, t, am, "cam", types.FragmentSelectorTypeServerTimestamp, start, 3, 5*time.Second)
	if len(frags) < 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	gm, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{StreamName: aws.String("cam"),
		Fragments: []string{*frags[0].FragmentNumber}})
	if err != nil {
		t.Fatal(err)
	}
	gm.Payload.Close()
	getClip(ctx, t, am, "cam", *frags[0].ServerTimestamp, *frags[1].ServerTimestamp)
}

// TestMetrics runs traffic of every kind through a real server, checks
// the CloudWatch-named series it shows, that every metric of the Grafana
// dashboard in examples/ exists, and that deleting streams removes their
// series.
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) {
		c.Streams.WriteRecordsPerS = 3
		c.Streams.ReadCallsPerS = 1
	})
	kc := e.Kinesis(servertest.NoRetries)
	stored, throttled, unsubscribe := kdsTraffic(t, kc)
	var liveFams map[string]*dto.MetricFamily // while sessions are open
	videoTraffic(t, e, func() {
		fams := scrape(t, e)
		liveFams = fams
		cam := map[string]string{"stream": "cam"}
		want(t, fams, "eddy_kvs_putmedia_active_connections", map[string]string{"stream": "cam", "protocol": "rtsp"}, equal(1), "1")
		want(t, fams, "eddy_rtsp_sessions", map[string]string{"stream": "cam", "mode": "publish"}, equal(1), "1")
		want(t, fams, "eddy_webrtc_sessions", map[string]string{"stream": "cam", "kind": "whep"}, equal(1), "1")
		want(t, fams, "eddy_hls_sessions", cam, equal(1), "1")
		want(t, fams, "eddy_kds_subscriptions", map[string]string{"stream": "kds"}, equal(1), "1")
	})
	unsubscribe()
	// A request is counted once its handler returns, which may be just
	// after its client read the whole answer.
	fams := scrape(t, e)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); fams = scrape(t, e) {
		if _, ok := sample(fams, "eddy_kvs_outgoing_bytes_total", map[string]string{"operation": "GetClip"}); ok {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	kds := map[string]string{"stream": "kds"}
	want(t, fams, "eddy_kds_incoming_records_total", kds, equal(float64(stored)), "the records stored")
	want(t, fams, "eddy_kds_incoming_bytes_total", kds, equal(float64(4+(stored-1)*5)), "their keys and data")
	want(t, fams, "eddy_kds_write_provisioned_throughput_exceeded_total", kds, equal(float64(throttled)), "the records refused")
	want(t, fams, "eddy_kds_putrecords_records_total", map[string]string{"stream": "kds", "result": "throttled"}, equal(float64(throttled)), "the records refused")
	want(t, fams, "eddy_kds_read_provisioned_throughput_exceeded_total", kds, equal(1), "1")
	want(t, fams, "eddy_kds_getrecords_records_total", kds, equal(float64(stored)), "the records stored")
	want(t, fams, "eddy_kds_getrecords_iterator_age_milliseconds", kds, func(v float64) bool { return v >= 0 }, "present")
	want(t, fams, "eddy_kds_subscribetoshard_rate_exceeded_total", kds, equal(1), "1")
	want(t, fams, "eddy_kds_subscribetoshardevent_records_total", kds, positive, "> 0")
	want(t, fams, "eddy_kds_requests_total", map[string]string{"operation": "PutRecords", "stream": "kds", "code": "200"}, equal(1), "1")
	want(t, fams, "eddy_kds_latency_seconds", map[string]string{"operation": "GetRecords"}, equal(2), "2 observations")

	cam, rtsp := map[string]string{"stream": "cam"}, map[string]string{"stream": "cam", "protocol": "rtsp"}
	want(t, fams, "eddy_kvs_putmedia_requests_total", rtsp, equal(1), "1")
	want(t, fams, "eddy_kvs_putmedia_connection_errors_total", map[string]string{"protocol": "rtsp", "reason": "busy"}, equal(1), "1")
	want(t, fams, "eddy_kvs_putmedia_incoming_bytes_total", rtsp, positive, "> 0")
	want(t, fams, "eddy_kvs_putmedia_incoming_frames_total", rtsp, positive, "> 0")
	want(t, fams, "eddy_kvs_putmedia_incoming_fragments_total", rtsp, func(v float64) bool { return v >= 3 }, "≥ 3")
	want(t, fams, "eddy_kvs_putmedia_success_total", rtsp, func(v float64) bool { return v >= 3 }, "≥ 3")
	want(t, fams, "eddy_kvs_putmedia_fragment_ingestion_latency_seconds", nil, func(v float64) bool { return v >= 2 }, "≥ 2 observations")
	want(t, fams, "eddy_kvs_outgoing_bytes_total", map[string]string{"operation": "GetClip", "stream": "cam"}, positive, "> 0")
	want(t, fams, "eddy_kvs_outgoing_fragments_total", map[string]string{"operation": "GetMediaForFragmentList", "stream": "cam"}, equal(1), "1")
	want(t, fams, "eddy_kvs_requests_total", map[string]string{"operation": "GetHLSMasterPlaylist", "stream": "cam", "code": "200"}, equal(1), "1")
	want(t, fams, "eddy_kvs_archived_fragments_consumed_metadata_total", cam, positive, "> 0")

	// The gauges of open sessions have series while there are some.
	for name, f := range liveFams {
		if len(fams[name].GetMetric()) == 0 {
			fams[name] = f
		}
	}
	checkDashboard(t, fams)

	// Deleting the streams removes their series.
	ctx := servertest.Context(t, time.Minute)
	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("kds"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	d, err := e.KinesisVideo().DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.KinesisVideo().DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: d.StreamInfo.StreamARN}); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, e)
	for _, name := range []string{"kds", "cam"} {
		if left := seriesOf(fams, name); len(left) > 0 {
			t.Errorf("stream %s deleted, but these still have its series: %v", name, left)
		}
	}
}

// dashboardMetric matches a metric name in a PromQL expression.
var dashboardMetric = regexp.MustCompile(`\b(?:eddy|process|go)_[a-z0-9_]+\b`)

// checkDashboard checks that every metric the Grafana dashboard's
// queries and variables name exists in fams.
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "grafana-eddy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("examples/grafana-eddy.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			exprs = append(exprs, q)
		}
	}
	names := 0
	for _, expr := range exprs {
		for _, name := range dashboardMetric.FindAllString(expr, -1) {
			names++
			if !familyExists(fams, name) {
				t.Errorf("the dashboard's %q names %s, which /metrics does not have", expr, name)
			}
		}
	}
	if names < 30 {
		t.Errorf("the dashboard names %d metrics, want at least 30", names)
	}
}

// familyExists reports whether name is a family of fams with a series,
// or a histogram's _bucket, _sum or _count.
func familyExists(fams map[string]*dto.MetricFamily, name string) bool {
	if f, ok := fams[name]; ok {
		return len(f.GetMetric()) > 0
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := cutSuffix(name, suffix); ok {
			if f := fams[base]; f.GetType() == dto.MetricType_HISTOGRAM && len(f.GetMetric()) > 0 {
				return true
			}
		}
	}
	return false
}

func cutSuffix(s, suffix string) (string, bool) {
	if len(s) > len(suffix) && s[len(s)-len(suffix):] == suffix {
		return s[:len(s)-len(suffix)], true
	}
	return "", false
}

// TestMetricsStreamLimit checks metrics.per_stream_limit: the first
// streams have series of their own, the others count under
// stream="(aggregated)", and a deleted stream frees its place.
func TestMetricsStreamLimit(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t, func(c *server.Config) { c.Metrics.PerStreamLimit = 2 })
	kc := e.Kinesis()
	ctx := servertest.Context(t, time.Minute)
	put := func(name string) {
		t.Helper()
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k"), Data: []byte("d")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"s1", "s2", "s3", "s4"} {
		createStream(t, kc, name, 1)
		put(name)
	}
	fams := scrape(t, e)
	if got := streamLabels(fams, "eddy_kds_incoming_records_total"); len(got) != 3 || got[0] != server.AggregatedStream {
		t.Fatalf("stream labels %v, want 2 streams and %s", got, server.AggregatedStream)
	}
	want(t, fams, "eddy_kds_incoming_records_total", map[string]string{"stream": server.AggregatedStream}, equal(2), "2 (s3 and s4)")
	want(t, fams, "eddy_kds_incoming_records_total", nil, equal(4), "4 in all")

	if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	scrape(t, e) // forgets s1
	put("s3")
	fams = scrape(t, e)
	if got := streamLabels(fams, "eddy_kds_incoming_records_total"); len(got) != 3 || got[1] != "s2" || got[2] != "s3" {
		t.Errorf("after s1's deletion, stream labels %v, want %s, s2, s3", got, server.AggregatedStream)
	}

	// per_stream: false aggregates every stream.
	e = servertest.Start(t, func(c *server.Config) { c.Metrics.PerStream = false })
	kc = e.Kinesis()
	createStream(t, kc, "s1", 1)
	put("s1")
	if got := streamLabels(scrape(t, e), "eddy_kds_incoming_records_total"); len(got) != 1 || got[0] != server.AggregatedStream {
		t.Errorf("per_stream false: stream labels %v, want only %s", got, server.AggregatedStream)
	}
}
