package kdsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/awsauth"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "test-secret-1"}

// authAPI is a core with two streams, "allowed" and "forbidden", each
// with two shards, a record, a tag and a consumer; admin serves it without
// authentication, api with it, for an identity that may do anything on
// "allowed" only.
type authAPI struct {
	core       *datastreams.Core
	admin, api *API
	refused    []string // reasons OnFailure saw
}

func newAuthAPI(t *testing.T) *authAPI {
	t.Helper()
	c := &datastreams.Core{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	creds, err := awsauth.NewCredentials([]awsauth.Identity{{AccessKeyID: testCreds.AccessKeyID, Secret: testCreds.SecretAccessKey,
		Rules: []awsauth.Rule{{Actions: []string{"kinesis:*"}, Streams: []string{"allowed"}}}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	e := &authAPI{core: c, admin: &API{Core: c, Logger: c.Logger}}
	e.api = &API{Core: c, Logger: c.Logger, Auth: &awsauth.Verifier{Credentials: creds, Region: c.Region},
		OnFailure: func(_ *http.Request, f *awsauth.Failure, _ string) { e.refused = append(e.refused, f.Reason) }}
	t.Cleanup(e.api.Shutdown)
	for _, name := range []string{"allowed", "forbidden"} {
		for _, op := range []struct {
			op string
			in map[string]any
		}{
			{"CreateStream", map[string]any{"StreamName": name, "ShardCount": 2}},
			{"PutRecords", map[string]any{"StreamName": name, "Records": []map[string]any{ // one in each shard
				{"Data": []byte(name + "-record"), "PartitionKey": "k", "ExplicitHashKey": "0"},
				{"Data": []byte(name + "-record"), "PartitionKey": "k", "ExplicitHashKey": "340282366920938463463374607431768211455"}}}},
			{"AddTagsToStream", map[string]any{"StreamName": name, "Tags": map[string]string{"t": "v"}}},
			{"RegisterStreamConsumer", map[string]any{"StreamARN": c.StreamARN(name), "ConsumerName": "c1"}},
		} {
			if code, eb := call(t, e.admin, op.op, op.in); code != http.StatusOK {
				t.Fatalf("%s %s: %d %+v", op.op, name, code, eb)
			}
		}
	}
	return e
}

// adminOut runs an operation without authentication and returns its body.
func (e *authAPI) adminOut(t *testing.T, op string, in map[string]any) []byte {
	t.Helper()
	body, _ := json.Marshal(in)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	w := httptest.NewRecorder()
	e.admin.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: %d %s", op, w.Code, w.Body)
	}
	return w.Body.Bytes()
}

// signed runs an operation signed with the SDK's signer, in JSON or CBOR.
func (e *authAPI) signed(t *testing.T, op string, body []byte, creds aws.Credentials, useCBOR bool) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://kinesis.test/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Set("Content-Type", contentTypeJSON)
	if useCBOR {
		req.Header.Set("Content-Type", contentTypeCBOR)
	}
	if creds.AccessKeyID != "" {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kinesis", e.core.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, req)
	return w
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder, useCBOR bool) errorBody {
	t.Helper()
	var eb errorBody
	cd := codecJSON
	if useCBOR {
		cd = codecCBOR
	}
	if err := cd.decode(w.Body.Bytes(), &eb); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if w.Header().Get("x-amzn-ErrorType") != eb.Type || w.Header().Get("Content-Type") != cd.contentType() {
		t.Errorf("headers %v for %s", w.Header(), eb.Type)
	}
	return eb
}

// TestAuthBeforeDecoding: a request that is not signed, or signed wrong,
// is refused before its body is read as an operation, in its own format,
// and creates nothing.
func TestAuthBeforeDecoding(t *testing.T) {
	e := newAuthAPI(t)
	wrong := testCreds
	wrong.SecretAccessKey = "not-the-secret"
	for _, useCBOR := range []bool{false, true} {
		for name, tc := range map[string]struct {
			body  []byte
			creds aws.Credentials
			typ   string
		}{
			"unsigned":                   {[]byte(`{"StreamName":"allowed2","ShardCount":1}`), aws.Credentials{}, awsauth.TypeMissingToken},
			"unsigned, body not decoded": {[]byte(`{not json or cbor`), aws.Credentials{}, awsauth.TypeMissingToken},
			"wrong secret":               {[]byte(`{"StreamName":"allowed2","ShardCount":1}`), wrong, awsauth.TypeInvalidSignature},
			"unknown key":                {[]byte(`{"StreamName":"allowed2","ShardCount":1}`), aws.Credentials{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x-secret-1"}, awsauth.TypeUnrecognizedClient},
		} {
			body := tc.body
			if useCBOR && body[1] == '"' {
				var in map[string]any
				_ = json.Unmarshal(body, &in)
				body, _ = cborEnc.Marshal(in)
			}
			w := e.signed(t, "CreateStream", body, tc.creds, useCBOR)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("%s (cbor %v): %d %s", name, useCBOR, w.Code, w.Body)
			}
			if eb := decodeError(t, w, useCBOR); eb.Type != tc.typ {
				t.Errorf("%s (cbor %v): %+v, want %s", name, useCBOR, eb, tc.typ)
			}
		}
	}
	// The right signature passes, and meets the identity's rules.
	if eb := decodeError(t, e.signed(t, "CreateStream", []byte(`{"StreamName":"allowed2","ShardCount":1}`), testCreds, false), false); eb.Type != "AccessDeniedException" {
		t.Fatalf("signed: %+v", eb)
	}
	if _, err := e.core.Stream("allowed2"); err == nil {
		t.Error("a refused CreateStream created its stream")
	}
	want := []string{"missing", "missing", "signature", "unknown_key"}
	slices.Sort(e.refused[:4])
	slices.Sort(e.refused[4:8])
	if !slices.Equal(e.refused, append(append(want, want...), "access_denied")) {
		t.Errorf("OnFailure saw %v", e.refused)
	}
}

// streamFields are the members through which an operation can name a
// stream, for each stream of an authAPI.
func (e *authAPI) streamFields(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, name := range []string{"allowed", "forbidden"} {
		var it getShardIteratorOut
		_ = json.Unmarshal(e.adminOut(t, "GetShardIterator", map[string]any{"StreamName": name, "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}), &it)
		var shards listShardsOut
		_ = json.Unmarshal(e.adminOut(t, "ListShards", map[string]any{"StreamName": name, "MaxResults": 1}), &shards)
		var cons listConsumersOut
		_ = json.Unmarshal(e.adminOut(t, "ListStreamConsumers", map[string]any{"StreamARN": e.core.StreamARN(name)}), &cons)
		if shards.NextToken == nil || len(cons.Consumers) != 1 || it.ShardIterator == "" {
			t.Fatalf("set-up of %s: %+v %+v %q", name, shards, cons, it.ShardIterator)
		}
		out[name] = map[string]any{"StreamName": name, "StreamARN": e.core.StreamARN(name), "ResourceARN": e.core.StreamARN(name),
			"ConsumerARN": cons.Consumers[0].ConsumerARN, "ShardIterator": it.ShardIterator, "NextToken": *shards.NextToken}
	}
	return out
}

// operationArgs are members that get each operation past validation.
var operationArgs = map[string]any{
	"Records": []map[string]any{{"Data": []byte("y"), "PartitionKey": "k"}}, "Data": []byte("y"), "PartitionKey": "k",
	"ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON", "ShardCount": 1, "Tags": map[string]string{"k": "v"},
	"TagKeys": []string{"t"}, "RetentionPeriodHours": 48, "ShardLevelMetrics": []string{"IncomingBytes"},
	"ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "1000", "ShardToMerge": "shardId-000000000000",
	"AdjacentShardToMerge": "shardId-000000000001", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING",
	"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis", "StreamModeDetails": map[string]string{"StreamMode": "ON_DEMAND"},
	"EnforceConsumerDeletion": true, "ConsumerName": "c1",
}

// operationNames returns every operation, the destructive ones last.
func operationNames() []string {
	var names []string
	for n := range operations {
		names = append(names, n)
	}
	slices.Sort(names)
	last := []string{"DeregisterStreamConsumer", "DeleteStream"}
	names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(last, n) })
	return append(names, last...)
}

// TestAuthorizeEveryOperation sends every operation naming the forbidden
// stream through every member that can name one: it is refused with
// AccessDeniedException, as AWS words it.
func TestAuthorizeEveryOperation(t *testing.T) {
	e := newAuthAPI(t)
	fields := e.streamFields(t)
	for _, op := range operationNames() {
		in := map[string]any{}
		for k, v := range operationArgs {
			in[k] = v
		}
		for k, v := range fields["forbidden"] {
			in[k] = v
		}
		body, _ := json.Marshal(in)
		if op == "ListStreams" || op == "DescribeLimits" {
			body = []byte(`{}`)
		}
		w := e.signed(t, op, body, testCreds, false)
		if op == "ListStreams" || op == "DescribeLimits" { // name no stream
			if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "forbidden") {
				t.Errorf("%s: %d %s", op, w.Code, w.Body)
			}
			continue
		}
		want := fmt.Sprintf("User: arn:aws:iam::%s:user/AKIDTEST is not authorized to perform: kinesis:%s on resource: %s because no identity-based policy allows the kinesis:%s action",
			e.core.AccountID, op, e.core.StreamARN("forbidden"), op)
		if eb := decodeError(t, w, false); w.Code != http.StatusBadRequest || eb.Type != "AccessDeniedException" || eb.Message != want {
			t.Errorf("%s: %d %+v", op, w.Code, eb)
		}
	}
}

// TestAuthorizeMixedNames names the allowed stream through some members
// and the forbidden one through others, every way: whatever an operation
// does, it never touches or reveals the forbidden stream.
func TestAuthorizeMixedNames(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 requests")
	}
	e := newAuthAPI(t)
	fields := e.streamFields(t)
	members := []string{"StreamName", "StreamARN", "ResourceARN", "ConsumerARN", "ShardIterator", "NextToken"}
	before := e.snapshot(t, "forbidden")
	forbiddenData := base64.StdEncoding.EncodeToString([]byte("forbidden-record"))
	leaks := []string{"ResourceNotFoundException", "ResourceInUseException", "LimitExceededException"}
	for _, op := range operationNames() {
		for combo := range 729 { // each member absent, allowed or forbidden
			in := map[string]any{}
			for k, v := range operationArgs {
				in[k] = v
			}
			forbidden := false
			for i, c := 0, combo; i < len(members); i, c = i+1, c/3 {
				switch c % 3 {
				case 1:
					in[members[i]] = fields["allowed"][members[i]]
				case 2:
					in[members[i]] = fields["forbidden"][members[i]]
					forbidden = true
				}
			}
			if !forbidden {
				continue
			}
			body, _ := json.Marshal(in)
			w := e.signed(t, op, body, testCreds, false)
			if w.Code == http.StatusOK {
				if strings.Contains(w.Body.String(), "forbidden") || strings.Contains(w.Body.String(), forbiddenData) {
					t.Fatalf("%s %s: reveals the forbidden stream: %s", op, body, w.Body)
				}
				continue
			}
			if eb := decodeError(t, w, false); slices.Contains(leaks, eb.Type) && strings.Contains(eb.Message, "forbidden") {
				t.Fatalf("%s %s: %+v", op, body, eb)
			}
		}
		if after := e.snapshot(t, "forbidden"); after != before {
			t.Fatalf("%s changed the forbidden stream:\n%s\n%s", op, before, after)
		}
	}
}

// snapshot is a stream's description, tags, consumers and records.
func (e *authAPI) snapshot(t *testing.T, name string) string {
	t.Helper()
	var b strings.Builder
	b.Write(e.adminOut(t, "DescribeStream", map[string]any{"StreamName": name}))
	b.Write(e.adminOut(t, "ListTagsForStream", map[string]any{"StreamName": name}))
	b.Write(e.adminOut(t, "ListStreamConsumers", map[string]any{"StreamARN": e.core.StreamARN(name)}))
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		var it getShardIteratorOut
		_ = json.Unmarshal(e.adminOut(t, "GetShardIterator", map[string]any{"StreamName": name, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}), &it)
		var recs getRecordsOut
		_ = json.Unmarshal(e.adminOut(t, "GetRecords", map[string]any{"ShardIterator": it.ShardIterator}), &recs)
		for _, r := range recs.Records {
			b.WriteString(" " + r.SequenceNumber)
		}
	}
	return b.String()
}

// TestListStreamsFiltered: ListStreams shows only the streams the
// identity may ListStreams, and needs the action on some stream.
func TestListStreamsFiltered(t *testing.T) {
	e := newAuthAPI(t)
	w := e.signed(t, "ListStreams", []byte(`{}`), testCreds, false)
	var out listStreamsOut
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !slices.Equal(out.StreamNames, []string{"allowed"}) || len(out.StreamSummaries) != 1 || out.HasMoreStreams {
		t.Errorf("listed %+v", out)
	}
	creds, _ := awsauth.NewCredentials([]awsauth.Identity{{AccessKeyID: "AKIDPUT", Secret: "put-secret-1",
		Rules: []awsauth.Rule{{Actions: []string{"kinesis:PutRecords"}, Streams: []string{"*"}}}}}, "")
	e.api.Auth.Credentials = creds
	empty, _ := cborEnc.Marshal(map[string]any{})
	w = e.signed(t, "ListStreams", empty, aws.Credentials{AccessKeyID: "AKIDPUT", SecretAccessKey: "put-secret-1"}, true)
	if eb := decodeError(t, w, true); eb.Type != "AccessDeniedException" || !strings.HasSuffix(eb.Message, "on resource: "+e.core.StreamARN("*")+" because no identity-based policy allows the kinesis:ListStreams action") {
		t.Errorf("ListStreams without the action: %+v", eb)
	}
}

// TestSubscribeToShardAuthorized: SubscribeToShard is authorized on its
// consumer's stream before any event is sent.
func TestSubscribeToShardAuthorized(t *testing.T) {
	e := newAuthAPI(t)
	fields := e.streamFields(t)
	body, _ := json.Marshal(map[string]any{"ConsumerARN": fields["forbidden"]["ConsumerARN"], "ShardId": "shardId-000000000000",
		"StartingPosition": map[string]any{"Type": "TRIM_HORIZON"}})
	w := e.signed(t, "SubscribeToShard", body, testCreds, false)
	if eb := decodeError(t, w, false); w.Code != http.StatusBadRequest || eb.Type != "AccessDeniedException" {
		t.Fatalf("%d %+v", w.Code, eb)
	}
	if w := e.signed(t, "SubscribeToShard", body, aws.Credentials{}, false); w.Code != http.StatusBadRequest {
		t.Fatalf("unsigned: %d", w.Code)
	}
}
