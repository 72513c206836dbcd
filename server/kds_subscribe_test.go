package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// rawCall posts body to the Kinesis endpoint with the given target and
// content type and returns the status and body.
func rawCall(t *testing.T, url, target, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// selfSignedCert writes a certificate for 127.0.0.1 and returns the file
// paths and a pool trusting it.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	return servertest.SelfSignedCert(t)
}

// registerConsumer registers consumer name on stream and returns its ARN.
func registerConsumer(t *testing.T, kc *kinesis.Client, stream, name string) *string {
	t.Helper()
	reg, err := kc.RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/" + stream), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return reg.Consumer.ConsumerARN
}

// subscribe subscribes a consumer to shard 0 from pos. Each subscription
// gets its own client: smithy-go v1.28.8 keeps one event-stream decode
// buffer per client (its protocol object), which even subscriptions made
// one after another share without synchronization (see the README's
// known client issues).
func subscribe(t *testing.T, kc *kinesis.Client, consumerARN *string, pos types.ShardIteratorType, seq *string) (*kinesis.SubscribeToShardOutput, error) {
	t.Helper()
	return kinesis.New(kc.Options()).SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: consumerARN, ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: pos, SequenceNumber: seq}})
}

func TestSubscribeToShard(t *testing.T) {
	cases := []struct {
		name      string
		tls       bool
		transport func(pool *x509.CertPool) *http.Transport
		proto     int
	}{
		{"http1.1 chunked", false, func(*x509.CertPool) *http.Transport { return &http.Transport{} }, 1},
		{"h2 over TLS", true, func(pool *x509.CertPool) *http.Transport {
			p := new(http.Protocols)
			p.SetHTTP2(true)
			return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: p}
		}, 2},
		{"h2c prior knowledge", false, func(*x509.CertPool) *http.Transport {
			p := new(http.Protocols)
			p.SetUnencryptedHTTP2(true)
			return &http.Transport{Protocols: p}
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var pool *x509.CertPool
			env := servertest.Start(t, func(c *server.Config) {
				c.Streams.Throttle = false
				if tc.tls {
					c.TLSCert, c.TLSKey, pool = selfSignedCert(t)
				}
			})
			kc := env.Kinesis(servertest.WithHTTPClient(&http.Client{Transport: tc.transport(pool)}), servertest.NoRetries)
			testSubscribe(t, kc, tc.proto)
		})
	}
}

func testSubscribe(t *testing.T, kc *kinesis.Client, wantProto int) {
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "sub", 2)
	carn := registerConsumer(t, kc, "sub", "efo")
	put := func(tag string, n int) []string {
		t.Helper()
		var want []string
		entries := make([]types.PutRecordsRequestEntry, n)
		for i := range entries {
			d := fmt.Sprintf("%s-%d", tag, i)
			want = append(want, d)
			entries[i] = types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("0")}
		}
		if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("sub"), Records: entries}); err != nil {
			t.Fatal(err)
		}
		return want
	}
	early := put("early", 5)

	out, err := subscribe(t, kc, carn, types.ShardIteratorTypeTrimHorizon, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); !ok || raw.ProtoMajor != wantProto {
		t.Fatalf("response protocol %v, want HTTP/%d", raw.Proto, wantProto)
	}
	stream := out.GetStream()
	defer stream.Close()
	events := stream.Events()
	var got []string
	var cont string
	recv := func(n int) time.Duration {
		t.Helper()
		start := time.Now()
		for len(got) < n {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("stream ended: %v", stream.Err())
				}
				e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
				if !ok {
					t.Fatalf("event %T", ev)
				}
				for _, r := range e.Value.Records {
					got = append(got, string(r.Data))
				}
				cont = aws.ToString(e.Value.ContinuationSequenceNumber)
			case <-time.After(10 * time.Second):
				t.Fatalf("waited 10 s for records; have %v", got)
			}
		}
		return time.Since(start)
	}
	recv(len(early))
	// Records put while subscribed are pushed without polling.
	live := put("live", 3)
	if d := recv(len(early) + len(live)); d > 2*time.Second {
		t.Fatalf("push took %v", d)
	}
	if strings.Join(got, ",") != strings.Join(append(early, live...), ",") {
		t.Fatalf("received %v", got)
	}

	// A second subscription for the same consumer and shard within 5 s is refused.
	_, err = subscribe(t, kc, carn, types.ShardIteratorTypeLatest, nil)
	wantErr[*types.ResourceInUseException](t, err, "Another active subscription")
	stream.Close()

	// Resume after the continuation sequence number on shard 0, then
	// split it: the subscription reads to the end and gets ChildShards.
	more := put("more", 4)
	time.Sleep(5 * time.Second) // the previous subscription's 5 s takeover window
	out, err = subscribe(t, kc, carn, types.ShardIteratorTypeAfterSequenceNumber, aws.String(cont))
	if err != nil {
		t.Fatal(err)
	}
	stream = out.GetStream()
	defer stream.Close()
	events = stream.Events()
	got = nil
	recv(len(more))
	if strings.Join(got, ",") != strings.Join(more, ",") {
		t.Fatalf("resumed subscription received %v", got)
	}
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("sub"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	var children []string
	for ev := range events {
		e := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		for _, c := range e.Value.ChildShards {
			children = append(children, *c.ShardId)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream error at shard end: %v", err)
	}
	if strings.Join(children, ",") != "shardId-000000000002,shardId-000000000003" {
		t.Fatalf("ChildShards at the end of the subscription: %v", children)
	}
}

// TestSubscribeTakeover: after 5 s a new subscription replaces the old
// one, which ends with a ResourceInUseException event.
func TestSubscribeTakeover(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis(servertest.NoRetries)
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "tk", 1)
	carn := registerConsumer(t, kc, "tk", "c")
	sub := func() *kinesis.SubscribeToShardEventStream {
		// One client per concurrent subscription: aws-sdk-go-v2 (smithy-go
		// v1.28.8) shares an event-stream decode buffer per client, so two
		// streams on one client race.
		out, err := subscribe(t, env.Kinesis(servertest.NoRetries), carn, types.ShardIteratorTypeLatest, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out.GetStream()
	}
	first := sub()
	defer first.Close()
	time.Sleep(5100 * time.Millisecond)
	second := sub()
	defer second.Close()
	for range first.Events() {
	}
	wantErr[*types.ResourceInUseException](t, first.Err(), "Another active subscription was started")
	// Deregistering the consumer ends its subscriptions.
	if _, err := kc.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: carn}); err != nil {
		t.Fatal(err)
	}
	for range second.Events() {
	}
	wantErr[*types.ResourceNotFoundException](t, second.Err(), "deregistered")
}

// TestShutdownEndsSubscriptions: closing the server ends open
// subscriptions promptly instead of waiting out their 5 minutes.
func TestShutdownEndsSubscriptions(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis(servertest.NoRetries)
	createStream(t, kc, "sd", 1)
	carn := registerConsumer(t, kc, "sd", "c")
	out, err := subscribe(t, kc, carn, types.ShardIteratorTypeLatest, nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	start := time.Now()
	if err := env.Server.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for range stream.Events() {
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown with an open subscription took %v", d)
	}
}

// TestSubscribeSeesSplitPromptly: a subscriber waiting at the tip learns at
// once that its shard was split (the seal wakes it), not at the next
// keep-alive.
func TestSubscribeSeesSplitPromptly(t *testing.T) {
	env := servertest.Start(t)
	kc := env.Kinesis(servertest.NoRetries)
	ctx := servertest.Context(t, time.Minute)
	createStream(t, kc, "split", 1)
	carn := registerConsumer(t, kc, "split", "c")
	out, err := subscribe(t, kc, carn, types.ShardIteratorTypeLatest, nil)
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	time.Sleep(200 * time.Millisecond) // let the subscription reach the tip and wait there
	start := time.Now()
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("split"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	var children int
	for ev := range stream.Events() {
		children += len(ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent).Value.ChildShards)
	}
	if children != 2 {
		t.Fatalf("%d child shards announced", children)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the split reached the subscriber after %v", d)
	}
}
