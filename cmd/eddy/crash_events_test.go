package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
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

// TestCrashEvents writes events to a video stream's event stream from
// twelve writers (500 events a call) while the real binary is SIGKILLed
// three times. After each restart the server's events API lists every
// event acknowledged so far, with its sequence number; at the end, with
// the server stopped, the timeline on disk (opened from the data directory
// as a server opens it) holds exactly the events that were acknowledged
// (plus, possibly, some of the calls in flight at a kill, made durable
// without their answer arriving), each once, in time order.
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
	const writers, batch = 12, 500
	for cycle := 0; cycle <= 3; cycle++ {
		srv := crashVideoStart(t, bin, dir, logf)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if cycle == 0 {
			kv := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.URL())})
			if _, err := kv.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String("evcam"), DataRetentionInHours: aws.Int32(48)}); err != nil {
				t.Fatal(err)
			}
		}
		if cycle > 0 {
			// The restarted server answers every event acknowledged
			// before the kill, at once.
			mu.Lock()
			want := maps.Clone(acked)
			mu.Unlock()
			got := crashEventsREST(ctx, t, srv.URL(), base.Add(-time.Second), base.Add(time.Duration(n+1)*time.Millisecond))
			for label, a := range want {
				if got[label] != a.seq {
					t.Fatalf("cycle %d: restarted server: event %s is %q, acknowledged as %s", cycle, label, got[label], a.seq)
				}
			}
			t.Logf("cycle %d: the restarted server lists all %d acknowledged events", cycle, len(want))
		}
		kc := kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.URL()),
			RetryMaxAttempts: 1})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Twelve writers of 500-event calls: more records in flight than
		// the watermark's margin, so the watermark itself must be right.
		for w := range writers {
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
					for range batch {
						label := fmt.Sprintf("w%d-%d", w, n)
						at := base.Add(time.Duration(n) * time.Millisecond)
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
	q := events.Query{From: base.Add(-time.Second).UnixNano(), To: base.Add(time.Duration(n+1) * time.Millisecond).UnixNano(), Limit: events.MaxLimit}
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

// crashEventsREST reads every event of evcam in [from, to) through the
// events API and returns the ids by label.
func crashEventsREST(ctx context.Context, t *testing.T, base string, from, to time.Time) map[string]string {
	t.Helper()
	got := map[string]string{}
	token := ""
	for {
		q := url.Values{"start": {from.Format(time.RFC3339Nano)}, "end": {to.Format(time.RFC3339Nano)}, "limit": {"10000"}}
		if token != "" {
			q.Set("nextToken", token)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/streams/evcam/events?"+q.Encode(), nil)
		resp, err := crashVideoHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Events []struct {
				ID    string `json:"id"`
				Label string `json:"label"`
			} `json:"events"`
			NextToken string `json:"nextToken"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("events API: %s %v", resp.Status, err)
		}
		for _, e := range page.Events {
			got[e.Label] = e.ID
		}
		if page.NextToken == "" {
			return got
		}
		token = page.NextToken
	}
}
