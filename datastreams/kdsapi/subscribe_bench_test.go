package kdsapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/eddy-video/eddy/datastreams"
)

// BenchmarkSubscribePush measures the SubscribeToShard push latency from
// acknowledgement over loopback HTTP/1.1: each iteration puts a
// PutRecords of 125 records of 100 B (what one shard receives per call
// under eddy bench kds --rate 10000) into a 1-shard stream and waits for
// the SubscribeToShardEvent carrying them. It reports the time from the
// producer reading the PutRecords answer to the subscriber decoding the
// event (clamped at 0; "early/op" is the share that arrived first), p50 and
// p99. Its allocations (ReportAllocs) are the whole process's per op, that
// is per call of 125 records: the server's, and the producer's and the
// subscriber's HTTP clients and decoding besides.
func BenchmarkSubscribePush(b *testing.B) {
	c, api := benchAPI(b, "push", 1)
	srv := httptest.NewServer(api)
	defer srv.Close()
	call := func(target string, body any) *http.Response {
		js, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(js))
		req.Header.Set("X-Amz-Target", "Kinesis_20131202."+target)
		req.Header.Set("Content-Type", contentTypeJSON)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			b.Fatalf("%s: %d %s", target, resp.StatusCode, msg)
		}
		return resp
	}
	resp := call("RegisterStreamConsumer", map[string]string{"StreamARN": c.StreamARN("push"), "ConsumerName": "bench"})
	var reg struct{ Consumer struct{ ConsumerARN string } }
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	sub := call("SubscribeToShard", map[string]any{"ConsumerARN": reg.Consumer.ConsumerARN, "ShardId": datastreams.ShardID(0),
		"StartingPosition": map[string]string{"Type": "LATEST"}})
	defer sub.Body.Close()

	// The subscriber: the receipt time of every event that carries records.
	events := make(chan time.Time, 16)
	go func() {
		dec := eventstream.NewDecoder()
		r := bufio.NewReaderSize(sub.Body, 64<<10)
		var payload []byte
		for {
			msg, err := dec.Decode(r, payload)
			if err != nil {
				close(events)
				return
			}
			now := time.Now()
			if t := msg.Headers.Get(":event-type"); t != nil && t.String() == "SubscribeToShardEvent" &&
				!bytes.HasPrefix(msg.Payload, []byte(`{"Records":[]`)) {
				events <- now
			}
			payload = msg.Payload[:0]
		}
	}()

	recs := benchRecords(125)
	put := map[string]any{"StreamName": "push", "Records": recs}
	lat := make([]time.Duration, 0, b.N)
	early := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp := call("PutRecords", put)
		_, _ = io.Copy(io.Discard, resp.Body)
		acked := time.Now()
		resp.Body.Close()
		recv, ok := <-events
		if !ok {
			b.Fatal("the subscription ended")
		}
		d := recv.Sub(acked)
		if d < 0 {
			early++
			d = 0
		}
		lat = append(lat, d)
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "ack→push-p50-ms")
	b.ReportMetric(q(0.99), "ack→push-p99-ms")
	b.ReportMetric(float64(early)/float64(b.N), "early/op")
}
