package kvsapi_test

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkPutMediaPersist measures one producer's cluster end → PERSISTED
// on loopback with the store on this machine's disk (fsync before the
// ack): each iteration sends one 1 s cluster (25 H.264 frames, 43 AAC
// frames) and waits for its PERSISTED ack; p50 and p99 are reported.
//
//	go test -run XXX -bench PutMediaPersist -benchtime 200x ./fragments/kvsapi/
func BenchmarkPutMediaPersist(b *testing.B) {
	e := newPMEnv(b, 1024, nil)
	docs := synthClusters(b, 60, 25) // one session of up to 60 clusters, then a new one
	var lat []time.Duration
	var u *upload
	sent := 0
	b.ResetTimer()
	for i := range b.N {
		if u == nil || sent == len(docs) {
			if u != nil {
				u.body.Close()
				u.wait(b, 30*time.Second)
			}
			u, sent = startUpload(b, e.URL, nil), 0
		}
		before := u.count("PERSISTED")
		start := time.Now()
		u.write(b, docs[sent])
		sent++
		for u.count("PERSISTED") == before {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("cluster %d not PERSISTED after 10 s: %v", i, u.Acks())
			}
			time.Sleep(100 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	u.body.Close()
	u.wait(b, 30*time.Second)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
}
