package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// gmFragment is one fragment of a GetMedia answer as a consumer reads it.
type gmFragment struct {
	number string
	frames int
	pre    []mkv.Tag
}

// gmAnswer is a GetMedia answer read (up to where it ended or was cut):
// its fragments as their Cluster ends, the continuation tokens read (a
// fragment's is complete once the next document starts), error tags.
type gmAnswer struct {
	frags  []gmFragment
	tokens []string
	errs   []mkv.Tag
}

// readGetMedia reads an answer until it ends, is cut (a truncated last
// document is not an error), or has n fragments (0: no limit).
func readGetMedia(body io.Reader, n int) (*gmAnswer, error) {
	r := mkv.NewReader(body)
	r.EmitOnClusterEnd = true
	a := &gmAnswer{}
	for n == 0 || len(a.frags) < n {
		f, err := r.Next()
		var me *mkv.Error
		if errors.Is(err, io.EOF) || errors.As(err, &me) && errors.Is(me.Err, io.ErrUnexpectedEOF) {
			return a, nil
		}
		if err != nil {
			return a, err
		}
		if len(f.Frames) > 0 {
			num, _ := f.Tag(mkv.TagFragmentNumber)
			a.frags = append(a.frags, gmFragment{number: num, frames: len(f.Frames), pre: f.PreTags})
			continue
		}
		if v, ok := f.Tag(mkv.TagContinuationToken); ok {
			a.tokens = append(a.tokens, v)
		}
		if _, ok := f.Tag(mkv.TagErrorID); ok {
			a.errs = append(a.errs, f.PreTags...)
		}
	}
	return a, nil
}

func (a *gmAnswer) numbers() []string {
	var out []string
	for _, f := range a.frags {
		out = append(out, f.number)
	}
	return out
}

// listedNumbers returns the stream's fragment numbers in fragment order,
// as ListFragments lists them (in no order), from a server time on.
func listedNumbers(ctx context.Context, t *testing.T, am *kinesisvideoarchivedmedia.Client, stream string, from time.Time) ([]string, []types.Fragment) {
	t.Helper()
	frags := listAll(ctx, t, am, stream, types.FragmentSelectorTypeServerTimestamp, from, time.Now().Add(time.Minute))
	slices.SortFunc(frags, func(a, b types.Fragment) int {
		x, _ := fragments.ParseFragmentNumber(*a.FragmentNumber)
		y, _ := fragments.ParseFragmentNumber(*b.FragmentNumber)
		return int(x) - int(y)
	})
	var nums []string
	for _, f := range frags {
		nums = append(nums, *f.FragmentNumber)
	}
	return nums, frags
}

// loopPublish publishes testClip to url in a loop (real time, a fragment
// every 2 s) until the test ends.
func loopPublish(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p := &rtspclient.FilePublisher{URL: url, File: testClip, Loop: true}
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("publisher: %v", err)
		}
	})
}

// contiguous reports whether nums are consecutive fragments of listed.
func contiguous(listed, nums []string) bool {
	if len(nums) == 0 {
		return false
	}
	i := slices.Index(listed, nums[0])
	return i >= 0 && i+len(nums) <= len(listed) && slices.Equal(listed[i:i+len(nums)], nums)
}

// TestGetMediaSigned: GetMedia signed with the SDK's SigV4 signer on raw
// HTTP, through the guard, parsed with the MKV reader: a consumer that
// starts in the archive joins the live edge without missing or
// repeating a fragment; the stream's fourth session is refused; a
// disconnect ends the session (its gauge goes back down); unsigned and
// unauthorized requests are refused.
func TestGetMediaSigned(t *testing.T) {
	t.Parallel()
	e := startKVSAuthServer(t)
	ctx := servertest.Context(t, 2*time.Minute)
	kv := e.KinesisVideo(kvAs(kvsAdmin))
	if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam-gm"), DataRetentionInHours: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	loopPublish(t, withUser(e.RTSPURL("cam-gm"), kvsAdmin.AccessKeyID, kvsAdmin.SecretAccessKey))
	am := e.ArchivedMedia(amAs(kvsAdmin))
	if got := waitFragments(ctx, t, am, "cam-gm", types.FragmentSelectorTypeServerTimestamp, start, 2, 20*time.Second); len(got) < 2 {
		t.Fatalf("%d fragments stored", len(got))
	}

	do := func(creds aws.Credentials, body string) *http.Response {
		t.Helper()
		req := signedKVS(t, e, creds, "kinesisvideo", "GetMedia", []byte(body), time.Now())
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	earliest := `{"StreamName":"cam-gm","StartSelector":{"StartSelectorType":"EARLIEST"}}`
	resp := do(kvsReader, earliest)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/webm" {
		t.Fatalf("GetMedia as the reader: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Two or more stored fragments, then three live ones.
	a, err := readGetMedia(resp.Body, 5)
	resp.Body.Close()
	if err != nil || len(a.frags) != 5 {
		t.Fatalf("read %d fragments: %v", len(a.frags), err)
	}
	listed, _ := listedNumbers(ctx, t, am, "cam-gm", start)
	if a.frags[0].number != listed[0] || !contiguous(listed, a.numbers()) {
		t.Fatalf("GetMedia EARLIEST read %v; ListFragments has %v", a.numbers(), listed)
	}
	for _, f := range a.frags {
		if f.frames < 25 {
			t.Errorf("fragment %s has %d frames", f.number, f.frames)
		}
	}

	// A fragment number past the stream's last: error tags, then the end.
	lastSeq, _ := fragments.ParseFragmentNumber(listed[len(listed)-1])
	future := do(kvsReader, fmt.Sprintf(`{"StreamName":"cam-gm","StartSelector":{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":%q}}`,
		fragments.FragmentNumber(lastSeq+100)))
	fa, err := readGetMedia(future.Body, 0)
	future.Body.Close()
	if err != nil || future.StatusCode != 200 || len(fa.frags) != 0 ||
		!slices.Equal(fa.errs, []mkv.Tag{{Name: mkv.TagErrorCode, Value: "FRAGMENT_NOT_FOUND"}, {Name: mkv.TagErrorID, Value: "4000"}}) {
		t.Errorf("GetMedia of a future fragment: %d, %v, error tags %v, %v", future.StatusCode, fa.numbers(), fa.errs, err)
	}

	// Refusals, in the API's terms.
	unsigned, _ := http.Post(e.URL+"/getMedia", "application/json", strings.NewReader(earliest))
	if unsigned.StatusCode != 403 || unsigned.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned GetMedia: %d %s", unsigned.StatusCode, unsigned.Header.Get("x-amzn-ErrorType"))
	}
	unsigned.Body.Close()
	denied := do(kvsReader, `{"StreamName":"other","StartSelector":{"StartSelectorType":"NOW"}}`)
	if b, _ := io.ReadAll(denied.Body); denied.StatusCode != 403 || denied.Header.Get("x-amzn-ErrorType") != "AccessDeniedException" ||
		!bytes.Contains(b, []byte("kinesisvideo:GetMedia")) {
		t.Errorf("GetMedia of a stream the reader may not read: %d %s %s", denied.StatusCode, denied.Header.Get("x-amzn-ErrorType"), b)
	}
	denied.Body.Close()

	// Three sessions at the live edge; the fourth is refused.
	now := `{"StreamName":"cam-gm","StartSelector":{"StartSelectorType":"NOW"}}`
	var open []*http.Response
	for range 3 {
		r := do(kvsAdmin, now)
		if r.StatusCode != 200 {
			t.Fatalf("session: %d", r.StatusCode)
		}
		open = append(open, r)
	}
	fourth := do(kvsAdmin, now)
	if b, _ := io.ReadAll(fourth.Body); fourth.StatusCode != 400 || fourth.Header.Get("x-amzn-ErrorType") != "ConnectionLimitExceededException" {
		t.Errorf("fourth session: %d %s %s", fourth.StatusCode, fourth.Header.Get("x-amzn-ErrorType"), b)
	}
	fourth.Body.Close()
	sessions := func() float64 {
		v, _ := sample(scrapeAs(t, e), "eddy_kvs_getmedia_sessions", map[string]string{"stream": "cam-gm"})
		return v
	}
	if v := sessions(); v != 3 {
		t.Errorf("sessions open: %v, want 3", v)
	}
	// The clients go: every session ends at once.
	for _, r := range open {
		r.Body.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for sessions() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if v := sessions(); v != 0 {
		t.Fatalf("sessions open after the clients left: %v", v)
	}
	if v, _ := sample(scrapeAs(t, e), "eddy_kvs_getmedia_sessions_ended_total", map[string]string{"reason": "client"}); v < 4 {
		t.Errorf("sessions ended by their client: %v, want ≥ 4", v)
	}
}

// scrapeAs scrapes /metrics with the auth tests' scrape token.
func scrapeAs(t *testing.T, e *servertest.Env) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err := http.DefaultClient.Do(req)
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

// TestFragmentMetadata: a metadata event written to {name}.events with
// the Kinesis PutRecord API for a stored fragment gives its tags back, as
// SimpleTags before that fragment's Cluster and no other, in
// GetMediaForFragmentList and GetMedia: one that names the fragment, and
// one without a number at the fragment's producer start (ListFragments'
// milliseconds: within the 1 ms the match allows). No metadata event
// comes out as an EDDY_EVENT tag.
func TestFragmentMetadata(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	start := time.Now()
	loopPublish(t, e.RTSPURL("cam-meta"))
	waitLive(t, e, "cam-meta")
	am := e.ArchivedMedia()
	if got := waitFragments(ctx, t, am, "cam-meta", types.FragmentSelectorTypeServerTimestamp, start, 3, 20*time.Second); len(got) < 3 {
		t.Fatalf("%d fragments stored", len(got))
	}
	nums, frags := listedNumbers(ctx, t, am, "cam-meta", start)
	f, g := frags[1], frags[2]
	event := func(of types.Fragment, number string, tags ...string) []byte {
		var ts []map[string]string
		for i := 0; i < len(tags); i += 2 {
			ts = append(ts, map[string]string{"name": tags[i], "value": tags[i+1]})
		}
		attrs := map[string]any{"tags": ts}
		if number != "" {
			attrs["fragmentNumber"] = number
		}
		b, _ := json.Marshal(map[string]any{"type": "metadata", "time": of.ProducerTimestamp.Format(time.RFC3339Nano),
			"duration": float64(of.FragmentLengthInMilliseconds) / 1000, "attributes": attrs})
		return b
	}
	kc := e.Kinesis()
	for _, data := range [][]byte{
		event(f, *f.FragmentNumber, "DEVICE", "door-1", "ZONE", "lobby <east>", "EMPTY", ""),
		// Over f's time but naming another fragment: not f's.
		event(f, *g.FragmentNumber, "OTHER", "x"),
		// No number: the fragment that starts at its time, g.
		event(g, "", "GATE", "2"),
	} {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam-meta.events"), PartitionKey: aws.String("meta"), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	want := []mkv.Tag{{Name: "DEVICE", Value: "door-1"}, {Name: "ZONE", Value: "lobby <east>"}, {Name: "EMPTY", Value: ""}}
	wantG := []mkv.Tag{{Name: "GATE", Value: "2"}}
	userTags := func(pre []mkv.Tag) []mkv.Tag {
		var out []mkv.Tag
		for _, tg := range pre {
			if tg.Name == mkv.TagEvent && strings.Contains(tg.Value, `"type":"metadata"`) {
				t.Errorf("a metadata event as an %s tag: %s", mkv.TagEvent, tg.Value)
			}
			if !strings.HasPrefix(tg.Name, "AWS_") && tg.Name != mkv.TagEvent && tg.Name != mkv.TagEventsTruncated {
				out = append(out, tg)
			}
		}
		return out
	}
	// The timeline indexes the events as they are stored: allow it a moment.
	var got *gmAnswer
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, err := am.GetMediaForFragmentList(ctx, &kinesisvideoarchivedmedia.GetMediaForFragmentListInput{
			StreamName: aws.String("cam-meta"), Fragments: []string{*f.FragmentNumber, nums[0], *g.FragmentNumber}})
		if err != nil {
			t.Fatal(err)
		}
		got, err = readGetMedia(out.Payload, 0)
		out.Payload.Close()
		if err != nil || len(got.frags) != 3 {
			t.Fatalf("GetMediaForFragmentList: %d fragments, %v", len(got.frags), err)
		}
		if slices.Equal(userTags(got.frags[0].pre), want) && slices.Equal(userTags(got.frags[2].pre), wantG) {
			break
		}
	}
	if u := userTags(got.frags[0].pre); !slices.Equal(u, want) {
		t.Fatalf("GetMediaForFragmentList: fragment %s has user tags %v, want %v", got.frags[0].number, u, want)
	}
	if u := userTags(got.frags[1].pre); len(u) != 0 {
		t.Errorf("GetMediaForFragmentList: fragment %s has user tags %v, want none", got.frags[1].number, u)
	}
	if u := userTags(got.frags[2].pre); !slices.Equal(u, wantG) {
		t.Errorf("GetMediaForFragmentList: fragment %s has user tags %v, want %v", got.frags[2].number, u, wantG)
	}
	resp := postKVSRaw(ctx, t, e.URL+"/getMedia", fmt.Sprintf(`{"StreamName":"cam-meta","StartSelector":{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":%q}}`, *f.FragmentNumber))
	defer resp.Body.Close()
	a, err := readGetMedia(resp.Body, 2)
	if err != nil || len(a.frags) != 2 || a.frags[0].number != *f.FragmentNumber {
		t.Fatalf("GetMedia: %v, %v", a.numbers(), err)
	}
	if u := userTags(a.frags[0].pre); !slices.Equal(u, want) {
		t.Errorf("GetMedia: fragment %s has user tags %v, want %v", a.frags[0].number, u, want)
	}
	if u := userTags(a.frags[1].pre); a.frags[1].number != *g.FragmentNumber || !slices.Equal(u, wantG) {
		t.Errorf("GetMedia: fragment %s has user tags %v, want %s with %v", a.frags[1].number, u, *g.FragmentNumber, wantG)
	}
}

// postKVSRaw posts an unsigned Kinesis Video request (a server without
// credentials); the caller closes the answer.
func postKVSRaw(ctx context.Context, t *testing.T, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return resp
}

// jsGetMediaVersion is the @aws-sdk/client-kinesis-video-media the tests
// use (.ci/run installs it).
const jsGetMediaVersion = "3.1138.0"

// jsGetMedia is what testdata/jssdk/getmedia.mjs prints.
type jsGetMedia struct {
	ContentType string `json:"contentType"`
	ConnectedAt int64  `json:"connectedAt"` // Unix ms
	Bytes       int    `json:"bytes"`
	Error       *struct {
		Name, Message string
		Status        int
	} `json:"error"`
}

// runJSGetMedia runs one GetMedia with the JS SDK for seconds and parses
// what it read.
func runJSGetMedia(ctx context.Context, t *testing.T, endpoint, stream, selector string, seconds float64) (jsGetMedia, *gmAnswer) {
	t.Helper()
	node, dir := jsSDK(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-kinesis-video-media")); err != nil {
		mediatest.Missing(t, "the JS SDK's GetMedia client is not installed: run npm install --prefix testdata/jssdk --no-save @aws-sdk/client-kinesis-video-media@"+jsGetMediaVersion)
	}
	out := filepath.Join(t.TempDir(), "media.mkv")
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "getmedia.mjs"), endpoint, "AKIDEXAMPLE", "secret", stream, selector, out, fmt.Sprint(seconds))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res jsGetMedia
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("node printed %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	if res.Error != nil {
		t.Fatalf("GetMedia %s: %+v", selector, *res.Error)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	a, err := readGetMedia(bytes.NewReader(data), 0)
	if err != nil {
		t.Fatalf("GetMedia %s: %v after %d fragments", selector, err, len(a.frags))
	}
	return res, a
}

// TestGetMediaJSSDK drives GetMedia with the AWS SDK for JavaScript v3:
// every start selector starts where it says and reads on in fragment
// order; a consumer reading NOW gets the fragment in progress when it
// connected and every later one; resuming with the continuation token
// loses and repeats nothing (fragment numbers compared with
// ListFragments).
func TestGetMediaJSSDK(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 3*time.Minute)
	start := time.Now()
	loopPublish(t, e.RTSPURL("cam-js"))
	waitLive(t, e, "cam-js")
	am := e.ArchivedMedia()
	if got := waitFragments(ctx, t, am, "cam-js", types.FragmentSelectorTypeServerTimestamp, start, 3, 20*time.Second); len(got) < 3 {
		t.Fatalf("%d fragments stored", len(got))
	}

	// NOW: the fragment being recorded at connection, then the next ones.
	res, now := runJSGetMedia(ctx, t, e.URL, "cam-js", `{"StartSelectorType":"NOW"}`, 7)
	if res.ContentType != "video/webm" || len(now.frags) < 2 {
		t.Fatalf("NOW: Content-Type %q, %d fragments", res.ContentType, len(now.frags))
	}
	listed, frags := listedNumbers(ctx, t, am, "cam-js", start)
	if !contiguous(listed, now.numbers()) {
		t.Fatalf("NOW read %v; ListFragments has %v", now.numbers(), listed)
	}
	connected := time.UnixMilli(res.ConnectedAt)
	first := frags[slices.Index(listed, now.frags[0].number)]
	if first.ServerTimestamp.After(connected) || connected.Sub(*first.ServerTimestamp) > 2*time.Second+time.Second {
		t.Errorf("NOW connected at %v and began with the fragment of %v: not the one in progress", connected, *first.ServerTimestamp)
	}

	// The archive selectors.
	second := frags[1]
	secs := func(t time.Time) string { return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000) }
	for _, c := range []struct{ selector, first string }{
		{`{"StartSelectorType":"EARLIEST"}`, listed[0]},
		{`{"StartSelectorType":"FRAGMENT_NUMBER","AfterFragmentNumber":"` + listed[1] + `"}`, listed[1]},
		{`{"StartSelectorType":"SERVER_TIMESTAMP","StartTimestamp":` + secs(second.ServerTimestamp.Add(time.Millisecond)) + `}`, listed[1]},
		{`{"StartSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":` + secs(second.ProducerTimestamp.Add(time.Millisecond)) + `}`, listed[1]},
		{`{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"` + listed[0] + `"}`, listed[1]},
	} {
		_, a := runJSGetMedia(ctx, t, e.URL, "cam-js", c.selector, 1)
		listed, _ := listedNumbers(ctx, t, am, "cam-js", start)
		if len(a.frags) < 2 || a.frags[0].number != c.first || !contiguous(listed, a.numbers()) {
			t.Errorf("%s: read %v, want from %s on (ListFragments has %v)", c.selector, a.numbers(), c.first, listed)
		}
	}

	// A consumer reads from the start, leaves, and resumes with the last
	// continuation token it read: the fragments it consumed (those whose
	// token it read) then the resumed ones are the stream's, once each.
	_, part1 := runJSGetMedia(ctx, t, e.URL, "cam-js", `{"StartSelectorType":"EARLIEST"}`, 3)
	if len(part1.tokens) < 2 {
		t.Fatalf("first read: %d continuation tokens", len(part1.tokens))
	}
	for i, tok := range part1.tokens {
		if tok != part1.frags[i].number {
			t.Fatalf("continuation token %d is %s, its fragment %s", i, tok, part1.frags[i].number)
		}
	}
	last := part1.tokens[len(part1.tokens)-1]
	_, part2 := runJSGetMedia(ctx, t, e.URL, "cam-js", `{"StartSelectorType":"CONTINUATION_TOKEN","ContinuationToken":"`+last+`"}`, 5)
	all := append(slices.Clone(part1.tokens), part2.numbers()...)
	listed, _ = listedNumbers(ctx, t, am, "cam-js", start)
	if all[0] != listed[0] || !contiguous(listed, all) || len(part2.frags) < 2 {
		t.Fatalf("consumed %v then resumed with %v; ListFragments has %v", part1.tokens, part2.numbers(), listed)
	}
}

// TestGetMediaServerClose: a GetMedia session at the live edge does not
// hold the server's shutdown for its grace period.
func TestGetMediaServerClose(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	if _, err := e.KinesisVideo().CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("cam-close"), DataRetentionInHours: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	resp := postKVSRaw(ctx, t, e.URL+"/getMedia", `{"StreamName":"cam-close","StartSelector":{"StartSelectorType":"NOW"}}`)
	defer resp.Body.Close()
	start := time.Now()
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the server took %v to close with a GetMedia session open", d)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) != 0 {
		t.Fatalf("the session's answer: %d bytes, %v", len(b), err)
	}
}

// TestGetMediaHTTP2: GetMedia over HTTP/2 (h2c), the archive then the live
// edge; resetting the stream ends the session.
func TestGetMediaHTTP2(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	start := time.Now()
	loopPublish(t, e.RTSPURL("cam-h2"))
	waitLive(t, e, "cam-h2")
	am := e.ArchivedMedia()
	if got := waitFragments(ctx, t, am, "cam-h2", types.FragmentSelectorTypeServerTimestamp, start, 1, 20*time.Second); len(got) < 1 {
		t.Fatal("no fragment stored")
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	rctx, cancel := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(rctx, http.MethodPost, e.URL+"/getMedia",
		strings.NewReader(`{"StreamName":"cam-h2","StartSelector":{"StartSelectorType":"EARLIEST"}}`))
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}
	a, err := readGetMedia(resp.Body, 3)
	if err != nil || len(a.frags) != 3 {
		t.Fatalf("read %v: %v", a.numbers(), err)
	}
	listed, _ := listedNumbers(ctx, t, am, "cam-h2", start)
	if a.frags[0].number != listed[0] || !contiguous(listed, a.numbers()) {
		t.Fatalf("GetMedia over HTTP/2 read %v; ListFragments has %v", a.numbers(), listed)
	}
	cancel()
	resp.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v, _ := sample(scrape(t, e), "eddy_kvs_getmedia_sessions", map[string]string{"stream": "cam-h2"})
		if v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v sessions open after the stream was reset", v)
		}
	}
}
