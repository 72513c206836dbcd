package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/server/servertest"
)

// kvsOp is one Kinesis Video operation as the table test calls it: its
// path and a request body around the stream reference under test.
type kvsOp struct {
	name, path string
	// byARN names the member an ARN-only operation takes ("StreamARN",
	// "ResourceARN"); "" for operations that take StreamName or StreamARN.
	byARN string
	// nameOnly marks CreateStream: a name, no ARN, no existing stream.
	nameOnly bool
	body     func(ref map[string]any) map[string]any
}

func kvsOps() []kvsOp {
	with := func(extra map[string]any) func(map[string]any) map[string]any {
		return func(ref map[string]any) map[string]any {
			out := map[string]any{}
			for k, v := range extra {
				out[k] = v
			}
			for k, v := range ref {
				out[k] = v
			}
			return out
		}
	}
	sel := map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
		"TimestampRange": map[string]any{"StartTimestamp": 1.7e9, "EndTimestamp": 1.8e9}}
	return []kvsOp{
		{name: "CreateStream", path: "/createStream", nameOnly: true, body: with(nil)},
		{name: "DescribeStream", path: "/describeStream", body: with(nil)},
		{name: "UpdateStream", path: "/updateStream", body: with(map[string]any{"CurrentVersion": "v", "DeviceName": "d"})},
		{name: "UpdateDataRetention", path: "/updateDataRetention", body: with(map[string]any{"CurrentVersion": "v",
			"Operation": "INCREASE_DATA_RETENTION", "DataRetentionChangeInHours": 1})},
		{name: "GetDataEndpoint", path: "/getDataEndpoint", body: with(map[string]any{"APIName": "GET_CLIP"})},
		{name: "TagStream", path: "/tagStream", body: with(map[string]any{"Tags": map[string]string{"a": "b"}})},
		{name: "UntagStream", path: "/untagStream", body: with(map[string]any{"TagKeyList": []string{"a"}})},
		{name: "ListTagsForStream", path: "/listTagsForStream", body: with(nil)},
		{name: "DeleteStream", path: "/deleteStream", byARN: "StreamARN", body: with(nil)},
		{name: "TagResource", path: "/TagResource", byARN: "ResourceARN", body: with(map[string]any{"Tags": []map[string]string{{"Key": "a", "Value": "b"}}})},
		{name: "UntagResource", path: "/UntagResource", byARN: "ResourceARN", body: with(map[string]any{"TagKeyList": []string{"a"}})},
		{name: "ListTagsForResource", path: "/ListTagsForResource", byARN: "ResourceARN", body: with(nil)},
		{name: "ListFragments", path: "/listFragments", body: with(map[string]any{"FragmentSelector": sel})},
		{name: "GetMediaForFragmentList", path: "/getMediaForFragmentList", body: with(map[string]any{"Fragments": []string{"1"}})},
		{name: "GetClip", path: "/getClip", body: with(map[string]any{"ClipFragmentSelector": sel})},
		{name: "GetHLSStreamingSessionURL", path: "/getHLSStreamingSessionURL", body: with(map[string]any{"PlaybackMode": "LIVE"})},
	}
}

// kvsAnswer is what a Kinesis Video operation answered.
type kvsAnswer struct {
	Status  int
	Type    string // x-amzn-ErrorType
	Message string
}

func postKVS(t *testing.T, url, path string, body []byte) kvsAnswer {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(b, &e)
	if h := resp.Header.Get("x-amzn-ErrorType"); h != e.Type {
		t.Errorf("POST %s: header type %q, body __type %q", path, h, e.Type)
	}
	return kvsAnswer{resp.StatusCode, e.Type, e.Message}
}

// TestKVSBadInputTable: the same bad input gets the same error type,
// status and message from every Kinesis Video operation, because they
// share one decoder, one name/ARN resolver and one error table.
func TestKVSBadInputTable(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	kv := e.KinesisVideo()
	arnOf := map[string]string{}
	for _, name := range []string{"cam", "other"} {
		out, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(24)})
		if err != nil {
			t.Fatal(err)
		}
		arnOf[name] = *out.StreamARN
	}
	goneARN := strings.Replace(arnOf["cam"], "stream/cam/", "stream/nope/", 1)
	dataARN := "arn:aws:kinesis:us-east-1:000000000000:stream/cam.events"

	invalid := func(msg string) kvsAnswer { return kvsAnswer{http.StatusBadRequest, "InvalidArgumentException", msg} }
	type input struct {
		ref  map[string]any // the stream reference of the request
		raw  string         // or a whole raw body
		want kvsAnswer
	}
	// cases returns the inputs of one case for an operation, or nil where
	// the case does not apply to it.
	cases := map[string]func(op kvsOp) *input{
		"invalid name": func(op kvsOp) *input {
			if op.byARN != "" {
				return nil
			}
			return &input{ref: map[string]any{"StreamName": "bad/name"},
				want: invalid(`StreamName "bad/name" is invalid: it must match [a-zA-Z0-9_.-]+ and be 1 to 256 characters long.`)}
		},
		"reserved name": func(op kvsOp) *input {
			if op.byARN != "" {
				return nil
			}
			return &input{ref: map[string]any{"StreamName": "cam.events"},
				want: invalid(`StreamName "cam.events" is invalid: names ending in ".events" are reserved for the event streams of video streams.`)}
		},
		"unknown stream": func(op kvsOp) *input {
			switch {
			case op.nameOnly:
				return nil
			case op.byARN != "":
				return &input{ref: map[string]any{op.byARN: goneARN},
					want: kvsAnswer{http.StatusNotFound, "ResourceNotFoundException", "The requested stream nope is not found or not active."}}
			}
			return &input{ref: map[string]any{"StreamName": "nope"},
				want: kvsAnswer{http.StatusNotFound, "ResourceNotFoundException", "The requested stream nope is not found or not active."}}
		},
		"name and ARN disagree": func(op kvsOp) *input {
			if op.nameOnly || op.byARN != "" {
				return nil
			}
			return &input{ref: map[string]any{"StreamName": "cam", "StreamARN": arnOf["other"]},
				want: invalid(fmt.Sprintf("StreamName cam and StreamARN %s name different streams.", arnOf["other"]))}
		},
		"ARN of a data stream": func(op kvsOp) *input {
			if op.nameOnly {
				return nil
			}
			field := op.byARN
			if field == "" {
				field = "StreamARN"
			}
			return &input{ref: map[string]any{field: dataARN},
				want: invalid(field + " " + dataARN + " is the ARN of a Kinesis data stream; Kinesis Video operations take the ARN of a video stream (arn:aws:kinesisvideo:...).")}
		},
		"malformed JSON": func(kvsOp) *input {
			return &input{raw: `{"StreamName": "cam",`,
				want: invalid("The request body is not valid JSON: unexpected end of JSON input (at byte 21).")}
		},
		"wrong types": func(op kvsOp) *input {
			field := op.byARN
			if field == "" {
				field = "StreamName"
			}
			return &input{raw: `{"` + field + `": 5}`,
				want: invalid("The value of " + field + " must be a string, not number.")}
		},
	}
	for _, op := range kvsOps() {
		t.Run(op.name, func(t *testing.T) {
			for name, c := range cases {
				in := c(op)
				if in == nil {
					continue
				}
				t.Run(name, func(t *testing.T) {
					body := []byte(in.raw)
					if in.raw == "" {
						body, _ = json.Marshal(op.body(in.ref))
					}
					if got := postKVS(t, e.URL, op.path, body); got != in.want {
						t.Errorf("POST %s %s\n got %+v\nwant %+v", op.path, body, got, in.want)
					}
				})
			}
		})
	}
	// ListStreams names no stream; its body is decoded like every other.
	for name, c := range map[string]*input{
		"malformed JSON": cases["malformed JSON"](kvsOp{}),
		"wrong types":    {raw: `{"MaxResults": "ten"}`, want: invalid("The value of MaxResults must be a number, not string.")},
	} {
		t.Run("ListStreams/"+name, func(t *testing.T) {
			if got := postKVS(t, e.URL, "/listStreams", []byte(c.raw)); got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	// Nothing was created or changed by the refused requests.
	list, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil || len(list.StreamInfoList) != 2 {
		t.Fatalf("streams after the refusals: %v, %v", list, err)
	}
	for _, s := range list.StreamInfoList {
		tags, err := kv.ListTagsForStream(ctx, &kinesisvideo.ListTagsForStreamInput{StreamName: s.StreamName})
		if err != nil || len(tags.Tags) != 0 || *s.DataRetentionInHours != 24 {
			t.Errorf("%s after the refusals: retention %d, tags %v, %v", *s.StreamName, *s.DataRetentionInHours, tags.Tags, err)
		}
	}
}

// TestKVSUnimplementedOperations: a Kinesis Video operation Eddy does not
// serve answers a typed error naming it, which the SDKs surface, instead of
// a plain-text 404; so does a POST to a path no operation has.
func TestKVSUnimplementedOperations(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	for path, op := range map[string]string{
		"/getMedia": "GetMedia", "/getImages": "GetImages",
		"/getDASHStreamingSessionURL": "GetDASHStreamingSessionURL", "/createSignalingChannel": "CreateSignalingChannel",
		"/describeImageGenerationConfiguration": "DescribeImageGenerationConfiguration",
		"/updateNotificationConfiguration":      "UpdateNotificationConfiguration",
		"/v1/get-ice-server-config":             "GetIceServerConfig", "/joinStorageSession": "JoinStorageSession",
	} {
		got := postKVS(t, e.URL, path, []byte(`{"StreamName":"cam"}`))
		if got.Status != http.StatusBadRequest || got.Type != "UnknownOperationException" ||
			!strings.Contains(got.Message, "Kinesis Video operation "+op+" yet") {
			t.Errorf("POST %s: %+v", path, got)
		}
	}
	if got := postKVS(t, e.URL, "/noSuchOperation", []byte(`{}`)); got.Type != "UnknownOperationException" ||
		!strings.Contains(got.Message, "POST /noSuchOperation") {
		t.Errorf("POST /noSuchOperation: %+v", got)
	}
	// Other unknown paths stay a plain 404: they are not Kinesis
	// operations.
	if resp, err := http.Post(e.URL+"/no/such/path", "text/plain", strings.NewReader("x")); err != nil ||
		resp.StatusCode != http.StatusNotFound || resp.Header.Get("x-amzn-ErrorType") != "" {
		t.Errorf("POST /no/such/path: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The SDKs surface the error type and message.
	am := e.ArchivedMedia()
	now := time.Now()
	_, err := am.GetImages(ctx, &kinesisvideoarchivedmedia.GetImagesInput{StreamName: aws.String("cam"),
		ImageSelectorType: amtypes.ImageSelectorTypeServerTimestamp, StartTimestamp: aws.Time(now.Add(-time.Minute)),
		EndTimestamp: aws.Time(now), Format: amtypes.FormatJpeg, SamplingInterval: aws.Int32(3000)})
	if apiCode(err) != "UnknownOperationException" || !strings.Contains(err.Error(), "GetImages") {
		t.Errorf("GetImages through the SDK: %v", err)
	}
	_, err = e.KinesisVideo().DescribeNotificationConfiguration(ctx, &kinesisvideo.DescribeNotificationConfigurationInput{StreamName: aws.String("cam")})
	if apiCode(err) != "UnknownOperationException" || !strings.Contains(err.Error(), "DescribeNotificationConfiguration") {
		t.Errorf("DescribeNotificationConfiguration through the SDK: %v", err)
	}
}
