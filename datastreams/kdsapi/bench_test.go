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
	c := &datastreams.Core{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := c.Initialize(); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.CreateStream("bench", datastreams.CreateOptions{ShardCount: 4, Mode: datastreams.ModeOnDemand}); err != nil {
		b.Fatal(err)
	}
	api := &API{Core: c, Logger: c.Logger}
	type rec struct {
		Data         []byte
		PartitionKey string
	}
	recs := make([]rec, 500)
	for i := range recs {
		recs[i] = rec{Data: bytes.Repeat([]byte{byte(i)}, 100), PartitionKey: fmt.Sprintf("pk-%d", i)}
	}
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
