package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// eventsWriter puts events into the camera's event stream and reads them
// back. Every acknowledged event is remembered by its sequence number
// (the event's id) with what was written, so that a read-back can tell a
// lost event from an altered one.
type eventsWriter struct {
	b       *eventsBench
	kc      *kinesis.Client
	tr      *benchTransport
	retries *countingRetryer
	stream  string // {name}.events

	mu       sync.Mutex
	sent     map[string]sentEvent // by sequence number
	lat      latHist              // PutRecords call latency, retries included
	calls    int64
	callErrs int64
	failed   map[string]int64 // per-record errors by code
	failMsgs []string         // the first few per-record error messages
	errMsgs  []string         // the first few call errors
	first    time.Time        // first and last acknowledgement
	last     time.Time
	minT     int64 // producer time range written (Unix ns)
	maxT     int64
}

// sentEvent is what one acknowledged record held.
type sentEvent struct {
	time  int64 // producer time, Unix ns
	label string
	n     uint64 // the writer's counter, in the attributes
}

// eventLabels are the labels the writers cycle through.
var eventLabels = []string{"person", "car", "bicycle", "dog"}

func (w *eventsWriter) setup(ctx context.Context, b *eventsBench, endpoint string) error {
	w.b, w.stream = b, b.stream+eventsSuffix
	w.sent, w.failed = map[string]sentEvent{}, map[string]int64{}
	w.minT, w.maxT = 1<<63-1, -1<<63
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2*b.cfg.Writers + 4
	w.tr = &benchTransport{base: t, codes: map[string]int64{}, hideWriteTo: true}
	w.retries = &countingRetryer{RetryerV2: retry.NewStandard(), codes: map[string]int64{}}
	w.kc = kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: w.tr},
		Retryer:      w.retries,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", Source: "eddy-bench"}, nil
		}),
	})
	// The event stream comes with the video stream: wait until it answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, cancel := callCtx(ctx)
		out, err := w.kc.DescribeStreamSummary(c, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(w.stream)})
		cancel()
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err == nil {
				err = fmt.Errorf("status %s", out.StreamDescriptionSummary.StreamStatus)
			}
			return fmt.Errorf("event stream %s: %w", w.stream, err)
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
}

// write puts batches until end, writer id of cfg.Writers: each writer
// sends its share of the rate in evenly spaced batches, offset from the
// others. A writer that falls behind does not burst to catch up (the
// report's rate shows it). Calls in flight at end finish.
func (w *eventsWriter) write(ctx context.Context, id int, end time.Time) {
	cfg := w.b.cfg
	interval := time.Duration(float64(cfg.Batch) / (cfg.Rate / float64(cfg.Writers)) * float64(time.Second))
	next := time.Now().Add(interval * time.Duration(id) / time.Duration(cfg.Writers))
	entries := make([]types.PutRecordsRequestEntry, cfg.Batch)
	times := make([]int64, cfg.Batch)
	labels := make([]string, cfg.Batch)
	counters := make([]uint64, cfg.Batch)
	var n uint64
	for ctx.Err() == nil && next.Before(end) {
		now := time.Now()
		if d := next.Sub(now); d > 0 {
			if sleepCtx(ctx, d) != nil {
				return
			}
		} else if -d > time.Second {
			next = now
		}
		next = next.Add(interval)
		// The batch's events are spread over the interval just past, on
		// the camera's clock, as detections of the frames sent in it.
		cam := w.b.cameraNow()
		for i := range entries {
			n++
			t := cam.Add(-interval + interval*time.Duration(i)/time.Duration(cfg.Batch))
			times[i], labels[i], counters[i] = t.UnixNano(), eventLabels[n%uint64(len(eventLabels))], n
			entries[i] = types.PutRecordsRequestEntry{
				PartitionKey: aws.String(strconv.Itoa(id)),
				Data:         eventJSON(id, n, t, labels[i]),
			}
		}
		t0 := time.Now()
		c, cancel := callCtx(context.WithoutCancel(ctx))
		out, err := w.kc.PutRecords(c, &kinesis.PutRecordsInput{StreamName: aws.String(w.stream), Records: entries})
		cancel()
		d := time.Since(t0)
		w.mu.Lock()
		w.calls++
		w.lat.record(d.Nanoseconds())
		if err != nil {
			w.callErrs++
			if len(w.errMsgs) < 5 {
				w.errMsgs = append(w.errMsgs, time.Now().Format("15:04:05.000")+" "+err.Error())
			}
			w.mu.Unlock()
			continue
		}
		ackAt := time.Now()
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				w.failed[*r.ErrorCode]++
				if len(w.failMsgs) < 5 {
					w.failMsgs = append(w.failMsgs, *r.ErrorCode+": "+aws.ToString(r.ErrorMessage))
				}
				continue
			}
			w.sent[aws.ToString(r.SequenceNumber)] = sentEvent{time: times[i], label: labels[i], n: counters[i]}
			w.minT, w.maxT = min(w.minT, times[i]), max(w.maxT, times[i])
		}
		if w.first.IsZero() {
			w.first = ackAt
		}
		w.last = ackAt
		w.mu.Unlock()
	}
}

// eventJSON is one event of the documented schema.
func eventJSON(writer int, n uint64, t time.Time, label string) []byte {
	score := 0.5 + float64(n%50)/100
	x := float64(n%80) / 100
	return fmt.Appendf(nil, `{"type":"detection","time":%q,"duration":0.5,"label":%q,"score":%.2f,"box":[%.2f,0.10,0.20,0.30],"attributes":{"writer":%d,"n":%d}}`,
		t.UTC().Format(time.RFC3339Nano), label, score, x, writer, n)
}

func (w *eventsWriter) acked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sent)
}

// readBack reads the acknowledged events back both ways.
func (w *eventsWriter) readBack(ctx context.Context, b *eventsBench) eventsReadBack {
	var rb eventsReadBack
	w.mu.Lock()
	rb.Acknowledged = len(w.sent)
	w.mu.Unlock()
	if rb.Acknowledged == 0 {
		return rb
	}
	rest := w.readREST(ctx, b.ib.url, b.stream)
	rb.REST = &rest
	get := w.readGetRecords(ctx)
	rb.GetRecords = &get
	return rb
}

// eventsCheck is one read-back of the acknowledged events.
type eventsCheck struct {
	Available bool     `json:"available"` // false: the server has no such endpoint (the figures are empty)
	Read      int      `json:"events_read"`
	Matched   int      `json:"acknowledged_read_back"`
	Lost      int      `json:"lost"`       // acknowledged, never read back
	Altered   int      `json:"altered"`    // read back with another time or label
	Duplicate int      `json:"duplicates"` // read back more than once
	Foreign   int      `json:"foreign"`    // events in the range the bench did not write
	Calls     int      `json:"calls"`
	Seconds   float64  `json:"seconds"`
	Errors    []string `json:"errors,omitempty"`
}

// tally compares what was read (id → time, label) with what was
// acknowledged.
func (w *eventsWriter) tally(c *eventsCheck, read map[string]sentEvent, dups int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c.Duplicate = dups
	for id, s := range w.sent {
		r, ok := read[id]
		switch {
		case !ok:
			c.Lost++
		case r.time != s.time || r.label != s.label:
			c.Matched++
			c.Altered++
			if len(c.Errors) < 5 {
				c.Errors = append(c.Errors, fmt.Sprintf("event %s: read back at %s label %q, written at %s label %q",
					id, time.Unix(0, r.time).UTC().Format(time.RFC3339Nano), r.label, time.Unix(0, s.time).UTC().Format(time.RFC3339Nano), s.label))
			}
		default:
			c.Matched++
		}
	}
	for id := range read {
		if _, ok := w.sent[id]; !ok {
			c.Foreign++
		}
	}
}

// readREST pages GET /api/v1/streams/{name}/events over the producer time
// range written (end exclusive, so one ns past the last).
func (w *eventsWriter) readREST(ctx context.Context, base, name string) (c eventsCheck) {
	c.Available = true
	t0 := time.Now()
	defer func() { c.Seconds = time.Since(t0).Seconds() }()
	w.mu.Lock()
	from, to := time.Unix(0, w.minT).UTC(), time.Unix(0, w.maxT+1).UTC()
	w.mu.Unlock()
	hc := newHTTPClient(2)
	read := map[string]sentEvent{}
	dups := 0
	token := ""
	for {
		q := url.Values{"start": {from.Format(time.RFC3339Nano)}, "end": {to.Format(time.RFC3339Nano)}, "limit": {"10000"}}
		if token != "" {
			q.Set("nextToken", token)
		}
		u := base + "/api/v1/streams/" + url.PathEscape(name) + "/events?" + q.Encode()
		body, _, _, status, err := hlsGet(ctx, hc, u, true)
		c.Calls++
		if status == http.StatusNotFound && c.Calls == 1 && !json.Valid(body) {
			// No such route (a 404 of the stream itself is JSON).
			return eventsCheck{Available: false, Calls: 1, Errors: []string{"GET /api/v1/streams/{name}/events: 404 (this server has no REST events endpoint)"}}
		}
		if err != nil {
			c.Errors = append(c.Errors, err.Error())
			break
		}
		var page struct {
			Events []struct {
				ID    string    `json:"id"`
				Time  time.Time `json:"time"`
				Label string    `json:"label"`
			} `json:"events"`
			NextToken string `json:"nextToken"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			c.Errors = append(c.Errors, fmt.Sprintf("GET %s: %v", hlsPath(u), err))
			break
		}
		last := int64(-1 << 63)
		for _, e := range page.Events {
			c.Read++
			if _, ok := read[e.ID]; ok {
				dups++
			}
			t := e.Time.UnixNano()
			if t < last && len(c.Errors) < 5 {
				c.Errors = append(c.Errors, fmt.Sprintf("event %s (%s) comes after a later one: not in time order", e.ID, e.Time.Format(time.RFC3339Nano)))
			}
			last = max(last, t)
			read[e.ID] = sentEvent{time: t, label: e.Label}
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	w.tally(&c, read, dups)
	return c
}

// readGetRecords reads the event stream's every shard from its start with
// GetShardIterator (TRIM_HORIZON) and GetRecords, until the records are
// caught up (MillisBehindLatest 0 and an empty answer) or a minute has
// passed. Fragment notices and other records that are not the bench's
// events are skipped by their sequence numbers.
func (w *eventsWriter) readGetRecords(ctx context.Context) (c eventsCheck) {
	c.Available = true
	t0 := time.Now()
	defer func() { c.Seconds = time.Since(t0).Seconds() }()
	fail := func(err error) eventsCheck {
		c.Errors = append(c.Errors, err.Error())
		w.tally(&c, nil, 0)
		return c
	}
	cc, cancel := callCtx(ctx)
	shards, err := w.kc.ListShards(cc, &kinesis.ListShardsInput{StreamName: aws.String(w.stream)})
	cancel()
	c.Calls++
	if err != nil {
		return fail(fmt.Errorf("ListShards: %w", err))
	}
	read := map[string]sentEvent{}
	dups := 0
	deadline := time.Now().Add(time.Minute)
	for _, sh := range shards.Shards {
		cc, cancel := callCtx(ctx)
		it, err := w.kc.GetShardIterator(cc, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(w.stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		cancel()
		c.Calls++
		if err != nil {
			return fail(fmt.Errorf("GetShardIterator %s: %w", aws.ToString(sh.ShardId), err))
		}
		iter := it.ShardIterator
		for iter != nil {
			cc, cancel := callCtx(ctx)
			out, err := w.kc.GetRecords(cc, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			cancel()
			c.Calls++
			if err != nil {
				return fail(fmt.Errorf("GetRecords %s: %w", aws.ToString(sh.ShardId), err))
			}
			for _, r := range out.Records {
				var e struct {
					Type  string    `json:"type"`
					Time  time.Time `json:"time"`
					Label string    `json:"label"`
				}
				if json.Unmarshal(r.Data, &e) != nil || e.Type != "detection" {
					continue // a fragment notice
				}
				c.Read++
				id := aws.ToString(r.SequenceNumber)
				if _, ok := read[id]; ok {
					dups++
				}
				read[id] = sentEvent{time: e.Time.UnixNano(), label: e.Label}
			}
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			if time.Now().After(deadline) {
				c.Errors = append(c.Errors, fmt.Sprintf("shard %s: not caught up after a minute", aws.ToString(sh.ShardId)))
				break
			}
			if len(out.Records) == 0 && sleepCtx(ctx, 200*time.Millisecond) != nil {
				break
			}
		}
	}
	w.tally(&c, read, dups)
	return c
}

// putStats sums up the writers.
func (w *eventsWriter) putStats(windowS float64) eventsPut {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := eventsPut{
		Calls: w.calls, CallErrors: w.callErrs, Acknowledged: int64(len(w.sent)), Latency: w.lat.summary(),
		CallErrorSamples: append([]string(nil), w.errMsgs...), RecordErrorSamples: append([]string(nil), w.failMsgs...),
		RecordErrors: map[string]int64{}, RetriedErrors: w.retries.counts(), ErrorResponses: w.tr.results().ErrorResponses,
	}
	for k, v := range w.failed {
		p.RecordErrors[k] = v
		p.Failed += v
	}
	p.RatePerSecond = float64(p.Acknowledged) / windowS
	if !w.first.IsZero() {
		p.AckSpanS = w.last.Sub(w.first).Seconds()
	}
	return p
}

// errorLines lists a map of counts as "key: n" lines, sorted.
func errorLines(m map[string]int64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(out)
	return out
}
