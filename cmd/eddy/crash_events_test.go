package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kdstypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments/events"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestCrashEvents writes events to a video stream's event stream from two
// writers while the real binary is SIGKILLed three times, then checks,
// with the server stopped, that the timeline on disk (opened from the data
// directory as a restarted server opens it) holds exactly the events that
// were acknowledged (plus, possibly, some of the batches in flight at a
// kill, which may have been made durable without their answer arriving),
// with the acknowledged sequence numbers, each once, in time order.
func TestCrashEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the real binary; skipped with -short")
	}
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 3))
	t.Logf("seed %d", seed)
	logf := func(format string, args ...any) { t.Logf(format, args...) }
	base := time.Now().UTC().Add(-30 * time.Minute).Truncate(time.Millisecond)
	type ack struct {
		seq string
		at  time.Time
	}
	var mu sync.Mutex
	acked := map[string]ack{} // event label (unique) → its acknowledgement
	sent := map[string]time.Time{}
	n := 0
	for cycle := 0; cycle <= 3; cycle++ {
		srv := crashVideoStart(t, bin, dir, logf)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if cycle == 0 {
			kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.URL())})
			if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("evcam"), DataRetentionInHours: aws.Int32(48)}); err != nil {
				t.Fatal(err)
			}
		}
		kc := kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.URL()),
			RetryMaxAttempts: 1})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					var recs []kdstypes.PutRecordsRequestEntry
					var labels []string
					mu.Lock()
					for range 20 {
						label := fmt.Sprintf("w%d-%d", w, n)
						at := base.Add(time.Duration(n) * 7 * time.Millisecond)
						n++
						sent[label] = at
						labels = append(labels, label)
						recs = append(recs, kdstypes.PutRecordsRequestEntry{PartitionKey: aws.String("k"),
							Data: fmt.Appendf(nil, `{"type":"detection","time":%q,"label":%q,"score":0.5}`, at.Format(time.RFC3339Nano), label)})
					}
					mu.Unlock()
					out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("evcam.events"), Records: recs})
					if err != nil {
						return // the kill
					}
					mu.Lock()
					for i, r := range out.Records {
						if r.ErrorCode == nil {
							acked[labels[i]] = ack{aws.ToString(r.SequenceNumber), sent[labels[i]]}
						}
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		if cycle < 3 {
			if err := srv.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		close(stop)
		wg.Wait()
		cancel()
		if cycle == 3 {
			if err := srv.Stop(logf); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		t.Logf("cycle %d: %d events acknowledged so far", cycle, len(acked))
		mu.Unlock()
	}

	core := &datastreams.Core{Dir: filepath.Join(dir, "data")}
	if err := core.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	s, err := core.Stream("evcam.events")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := events.Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	seen := map[string]bool{}
	q := events.Query{From: base.Add(-time.Second).UnixNano(), To: time.Now().UnixNano(), Limit: events.MaxLimit}
	var last time.Time
	for {
		p, err := tl.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			if seen[e.Label] {
				t.Fatalf("event %s twice", e.Label)
			}
			seen[e.Label] = true
			if e.Time.Before(last) {
				t.Fatalf("event %s out of order", e.Label)
			}
			last = e.Time
			if a, ok := acked[e.Label]; ok && (a.seq != e.ID || !a.at.Equal(e.Time)) {
				t.Fatalf("event %s: id %s time %s, acknowledged as %s at %s", e.Label, e.ID, e.Time, a.seq, a.at)
			} else if !ok && sent[e.Label].IsZero() {
				t.Fatalf("event %s was never sent", e.Label)
			}
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	missing := 0
	for label := range acked {
		if !seen[label] {
			missing++
		}
	}
	if missing > 0 || len(acked) == 0 {
		t.Fatalf("%d of %d acknowledged events are not on the timeline", missing, len(acked))
	}
	t.Logf("%d acknowledged events all on the timeline after 3 SIGKILLs (%d more from batches in flight at a kill)", len(acked), len(seen)-len(acked))
}
