package kdsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eddy-video/eddy/datastreams"
)

// BenchmarkPutRecordsHandler measures the server-side cost of one
// PutRecords call of 500 records of 100 B into a 4-shard on-demand stream
// (JSON decode, routing, group commit with fsync, response encode),
// reported per record.
func BenchmarkPutRecordsHandler(b *testing.B) {
	_, api := benchAPI(b, "bench", 4)
	recs := benchRecords(500)
	body, _ := json.Marshal(map[string]any{"StreamName": "bench", "Records": recs})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
			req.Header.Set("Content-Type", contentTypeJSON)
			w := httptest.NewRecorder()
			api.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "records/s")
}

// benchAPI is the API of a fresh core (in a temporary directory, closed
// with the benchmark) holding one on-demand stream of shards shards.
func benchAPI(b *testing.B, stream string, shards int) (*datastreams.Core, *API) {
	b.Helper()
	c := &datastreams.Core{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := c.Initialize(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if _, err := c.CreateStream(stream, datastreams.CreateOptions{ShardCount: shards, Mode: datastreams.ModeOnDemand}); err != nil {
		b.Fatal(err)
	}
	return c, &API{Core: c, Logger: c.Logger}
}

// benchRecord is a PutRecords request entry.
type benchRecord struct {
	Data         []byte
	PartitionKey string
}

// benchRecords is n records of 100 B, each with its own partition key.
func benchRecords(n int) []benchRecord {
	recs := make([]benchRecord, n)
	for i := range recs {
		recs[i] = benchRecord{Data: bytes.Repeat([]byte{byte(i)}, 100), PartitionKey: fmt.Sprintf("pk-%d", i)}
	}
	return recs
}
