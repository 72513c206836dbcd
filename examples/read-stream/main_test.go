package main

import (
	"bytes"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/eddy-video/eddy/server/servertest"
)

// TestReadStream reads a stream of two shards, one of them split after
// half the records were written (a closed parent and two children), with
// ListShards paged one shard at a time: every page is listed before the
// first shard is read (a NextToken expires after five minutes), every
// record comes once, and each partition key's records come in the order
// written.
func TestReadStream(t *testing.T) {
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	k := e.Kinesis()
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("detections"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	servertest.WaitStreamActive(t, k, "detections")
	put := func(from, to int) {
		for i := from; i < to; i++ {
			key := fmt.Sprintf("cam%d", i%5)
			if _, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("detections"), PartitionKey: aws.String(key),
				Data: fmt.Appendf(nil, "%s#%d", key, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, 40)
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("detections")})
	if err != nil {
		t.Fatal(err)
	}
	start, _ := new(big.Int).SetString(aws.ToString(shards.Shards[0].HashKeyRange.StartingHashKey), 10)
	end, _ := new(big.Int).SetString(aws.ToString(shards.Shards[0].HashKeyRange.EndingHashKey), 10)
	middle := new(big.Int).Rsh(new(big.Int).Add(start, end), 1)
	if _, err := k.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("detections"),
		ShardToSplit: shards.Shards[0].ShardId, NewStartingHashKey: aws.String(middle.String())}); err != nil {
		t.Fatal(err)
	}
	servertest.WaitStreamActive(t, k, "detections")
	put(40, 80)

	// The client readStream uses records the operations it calls.
	calls := &callLog{hc: awshttp.NewBuildableClient()}
	reader := e.Kinesis(func(o *kinesis.Options) { o.HTTPClient = calls })
	var out bytes.Buffer
	n, err := readStream(ctx, reader, "detections", &out, func(in *kinesis.ListShardsInput) { in.MaxResults = aws.Int32(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("output:\n%s", out.String())
	ops := calls.operations()
	lastList, firstRead := -1, -1
	for i, op := range ops {
		switch {
		case op == "ListShards":
			lastList = i
		case op == "GetShardIterator" && firstRead < 0:
			firstRead = i
		}
	}
	if pages := strings.Count(strings.Join(ops, " "), "ListShards"); pages != 4 || firstRead < lastList {
		t.Errorf("calls %v; want the four ListShards pages (one shard each) before the first GetShardIterator", ops)
	}
	if n != 80 {
		t.Errorf("readStream counted %d records; want 80", n)
	}
	line := regexp.MustCompile(`^(shardId-\d{12}) (cam\d) (\d+) (cam\d)#(\d+)$`)
	seen := map[int]bool{}
	last := map[string]int{}
	shardsRead := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil || m[2] != m[4] {
			t.Fatalf("line %q", l)
		}
		i, _ := strconv.Atoi(m[5])
		if seen[i] {
			t.Errorf("record %d printed twice", i)
		}
		seen[i] = true
		if prev, ok := last[m[2]]; ok && prev > i {
			t.Errorf("%s: record %d after %d", m[2], i, prev)
		}
		last[m[2]] = i
		shardsRead[m[1]] = true
	}
	if len(seen) != 80 {
		t.Errorf("%d records printed; want 80", len(seen))
	}
	if len(shardsRead) < 3 {
		t.Errorf("records from %d shards; want the parent's, its children's and the other shard's", len(shardsRead))
	}
}

// callLog is an HTTP client that records the Kinesis operation of each
// request (its X-Amz-Target) before sending it.
type callLog struct {
	hc  kinesis.HTTPClient
	mu  sync.Mutex
	ops []string
}

func (c *callLog) Do(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.ops = append(c.ops, strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "Kinesis_20131202."))
	c.mu.Unlock()
	return c.hc.Do(req)
}

func (c *callLog) operations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ops...)
}
