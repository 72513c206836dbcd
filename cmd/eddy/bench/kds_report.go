package bench

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kdsBenchResults is the outcome of a run (also printed as JSON).
type kdsBenchResults struct {
	Endpoint      string  `json:"endpoint"`
	Stream        string  `json:"stream"`
	StreamCreated bool    `json:"stream_created"`
	Mode          string  `json:"mode"`
	Shards        int     `json:"shards"`
	Producers     int     `json:"producers"`
	Batch         int     `json:"batch"`
	Size          int     `json:"size"`
	TargetRate    float64 `json:"target_rate,omitempty"`
	DurationS     float64 `json:"duration_s"` // configured
	ProduceS      float64 `json:"produce_s"`  // first put to last answer
	DrainS        float64 `json:"drain_s"`    // waiting for consumers afterwards

	Put              kdsPutResults      `json:"put"`
	GetRecords       *kdsConsumeResults `json:"get_records,omitempty"`
	SubscribeToShard *kdsConsumeResults `json:"subscribe_to_shard,omitempty"`
	HTTP             kdsHTTPResults     `json:"http"`
	// Errors counts calls that failed after the SDK's retries, by
	// "Operation: code".
	Errors    map[string]int64 `json:"errors"`
	ServerCPU *kdsCPUResults   `json:"server_cpu,omitempty"`
	BenchCPU  *kdsCPUResults   `json:"bench_cpu,omitempty"`
}

type kdsPutResults struct {
	Calls         int64            `json:"calls"`
	CallErrors    int64            `json:"call_errors"`
	Records       int64            `json:"records"` // acknowledged
	FailedRecords int64            `json:"failed_records"`
	FailedByCode  map[string]int64 `json:"failed_by_code,omitempty"`
	RecordsPerS   float64          `json:"records_per_s"`
	MBPerS        float64          `json:"mb_per_s"` // record data, 10^6 bytes
	Latency       latSummary       `json:"latency"`  // per PutRecords call
}

type kdsConsumeResults struct {
	Expected   int64 `json:"expected"`   // records acknowledged to the producers
	Received   int64 `json:"received"`   // distinct records of this run
	Duplicates int64 `json:"duplicates"` // deliveries beyond the first
	Foreign    int64 `json:"foreign"`    // records of other writers
	// Complete: every acknowledged record was received, and nothing
	// else (count and a checksum of sequence numbers match per shard).
	Complete bool       `json:"complete"`
	Calls    int64      `json:"calls"` // GetRecords or SubscribeToShard calls
	Events   int64      `json:"events,omitempty"`
	Errors   int64      `json:"errors"`
	Latency  latSummary `json:"latency"` // send → receipt, per record
	// ArrivalLatency runs from the server's ApproximateArrivalTimestamp
	// (millisecond precision; another clock unless the server is local).
	ArrivalLatency latSummary `json:"arrival_latency"`
	// AckLatency runs from the moment the producer received the answer
	// to the PutRecords call that stored the record.
	AckLatency ackResults `json:"ack_latency"`
}

type kdsHTTPResults struct {
	Attempts          int64            `json:"attempts"`
	Connections       int64            `json:"connections_opened"`
	ErrorResponses    map[string]int64 `json:"error_responses"` // per attempt, retried ones included
	ThrottledAttempts int64            `json:"throttled_attempts"`
	// RetriedErrors counts attempt errors the SDK judged retryable, by code.
	RetriedErrors map[string]int64 `json:"retried_errors"`
}

type kdsCPUResults struct {
	PID                 int     `json:"pid"`
	Seconds             float64 `json:"cpu_seconds"`
	Cores               float64 `json:"cores"` // CPU-seconds per wall second
	RecordsPerCPUSecond float64 `json:"records_per_cpu_second"`
}

func (b *kdsBench) results(stats []*producerStats, expected map[string]shardTally, produced, drained time.Duration, cpu0, cpu1 cpuSample) *kdsBenchResults {
	cfg := b.cfg
	r := &kdsBenchResults{
		Endpoint: cfg.Endpoint, Stream: b.stream, StreamCreated: b.created, Mode: cfg.Mode,
		Shards: len(b.shards), Producers: cfg.Producers, Batch: cfg.Batch, Size: cfg.Size, TargetRate: cfg.Rate,
		DurationS: cfg.Duration.Seconds(), ProduceS: produced.Seconds(), DrainS: drained.Seconds(),
		Errors: map[string]int64{},
	}
	if !b.created {
		r.Mode = "existing"
	}
	var lat latHist
	var bytes int64
	r.Put.FailedByCode = map[string]int64{}
	for _, st := range stats {
		r.Put.Calls += st.calls
		r.Put.CallErrors += st.errors
		r.Put.Records += st.records
		r.Put.FailedRecords += st.failed
		bytes += st.bytes
		for c, n := range st.failedByCode {
			r.Put.FailedByCode[c] += n
		}
		lat.merge(&st.lat)
	}
	r.Put.Latency = lat.summary()
	if s := produced.Seconds(); s > 0 {
		r.Put.RecordsPerS = float64(r.Put.Records) / s
		r.Put.MBPerS = float64(bytes) / 1e6 / s
	}
	if cfg.Consumers {
		r.GetRecords = b.get.results(expected, r.Put.Records)
		r.SubscribeToShard = b.sub.results(expected, r.Put.Records)
		r.GetRecords.AckLatency = b.get.ackResults(&b.acks)
		r.SubscribeToShard.AckLatency = b.sub.ackResults(&b.acks)
	}
	r.HTTP = b.tr.results()
	r.HTTP.RetriedErrors = b.retries.counts()
	b.errMu.Lock()
	for k, v := range b.errs {
		r.Errors[k] = v
	}
	b.errMu.Unlock()
	wall := produced.Seconds()
	if cpu0.serverOK && cpu1.serverOK {
		s := cpu1.server - cpu0.server
		r.ServerCPU = &kdsCPUResults{PID: cfg.PID, Seconds: s, Cores: s / wall}
		if s > 0 {
			r.ServerCPU.RecordsPerCPUSecond = float64(r.Put.Records) / s
		}
	}
	if cpu0.selfOK && cpu1.selfOK {
		s := cpu1.self - cpu0.self
		r.BenchCPU = &kdsCPUResults{PID: os.Getpid(), Seconds: s, Cores: s / wall}
		if s > 0 {
			r.BenchCPU.RecordsPerCPUSecond = float64(r.Put.Records) / s
		}
	}
	return r
}

func (p *recvPath) results(expected map[string]shardTally, put int64) *kdsConsumeResults {
	r := &kdsConsumeResults{Expected: put, Complete: true}
	var lat, arrival latHist
	for id, s := range p.shards {
		uniq, hash := s.unique.Load(), s.hash.Load()
		r.Received += uniq
		r.Duplicates += s.deliveries.Load() - uniq
		r.Foreign += s.foreign.Load()
		r.Calls += s.calls.Load()
		r.Events += s.events.Load()
		r.Errors += s.errors.Load()
		if e := expected[id]; uniq != e.count || hash != e.hash {
			r.Complete = false
		}
		lat.merge(&s.lat)
		arrival.merge(&s.arrival)
	}
	for id := range expected {
		if p.shards[id] == nil {
			r.Complete = false // records went to a shard nobody read
		}
	}
	r.Latency = lat.summary()
	r.ArrivalLatency = arrival.summary()
	return r
}

// ackResults merges the acknowledgement → receive latencies of the
// shards, once the consumers have stopped.
func (p *recvPath) ackResults(t *ackTable) ackResults {
	var lat, early, late latHist
	var r ackResults
	for _, s := range p.shards {
		s.ack.settle(t, 0, true)
		lat.merge(&s.ack.lat)
		early.merge(&s.ack.early)
		late.merge(&s.ack.late)
		r.Unacknowledged += s.ack.unacked
	}
	r.Latency = lat.summary()
	r.Early = int64(early.n)
	r.EarlyBy = early.summary()
	r.AfterAck = late.summary()
	return r
}

func (r *kdsBenchResults) writeText(w io.Writer) {
	// Labels left, values right-aligned in 18-wide columns.
	p := func(label string, vals ...string) {
		fmt.Fprintf(w, "  %-42s", label)
		for _, v := range vals {
			fmt.Fprintf(w, "%18s", v)
		}
		fmt.Fprintln(w)
	}
	ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " ms" }
	n := func(v int64) string { return commas(v) }
	rate := "as fast as possible"
	if r.TargetRate > 0 {
		rate = commas(int64(r.TargetRate)) + " records/s"
	}
	stream := r.Stream + " (" + r.Mode + ", " + strconv.Itoa(r.Shards) + " shards"
	if r.StreamCreated {
		stream += ", created by this run"
	}
	stream += ")"
	fmt.Fprintf(w, "\neddy bench kds — %s\n", r.Endpoint)
	fmt.Fprintf(w, "  stream   %s\n", stream)
	fmt.Fprintf(w, "  load     %d producers × PutRecords of %d × %d B records, %s\n", r.Producers, r.Batch, r.Size, rate)
	fmt.Fprintf(w, "  timing   %.2fs producing (%s configured), %.2fs draining consumers\n", r.ProduceS, time.Duration(r.DurationS*float64(time.Second)), r.DrainS)

	fmt.Fprintln(w, "\nPRODUCERS")
	p("records put (acknowledged)", n(r.Put.Records))
	p("put records/s", n(int64(r.Put.RecordsPerS+0.5)))
	p("put MB/s (record data, 10^6 B)", strconv.FormatFloat(r.Put.MBPerS, 'f', 2, 64))
	p("PutRecords calls", n(r.Put.Calls))
	p("PutRecords latency p50", ms(r.Put.Latency.P50Ms))
	p("PutRecords latency p99", ms(r.Put.Latency.P99Ms))
	p("PutRecords latency max", ms(r.Put.Latency.MaxMs))
	p("failed records (FailedRecordCount)", n(r.Put.FailedRecords))
	p("failed PutRecords calls (after retries)", n(r.Put.CallErrors))
	if g, s := r.GetRecords, r.SubscribeToShard; g != nil && s != nil {
		yes := func(ok bool) string {
			if ok {
				return "yes"
			}
			return "NO"
		}
		fmt.Fprintln(w)
		p("CONSUMERS", "GetRecords", "SubscribeToShard")
		p("records received (distinct)", n(g.Received), n(s.Received))
		p("every put record received", yes(g.Complete), yes(s.Complete))
		p("missing", n(max(0, g.Expected-g.Received)), n(max(0, s.Expected-s.Received)))
		p("duplicates", n(g.Duplicates), n(s.Duplicates))
		p("latency put→receive p50", ms(g.Latency.P50Ms), ms(s.Latency.P50Ms))
		p("latency put→receive p99", ms(g.Latency.P99Ms), ms(s.Latency.P99Ms))
		p("latency put→receive max", ms(g.Latency.MaxMs), ms(s.Latency.MaxMs))
		p("latency arrival→receive p50 (server stamp)", ms(g.ArrivalLatency.P50Ms), ms(s.ArrivalLatency.P50Ms))
		p("latency arrival→receive p99 (server stamp)", ms(g.ArrivalLatency.P99Ms), ms(s.ArrivalLatency.P99Ms))
		p("latency ack→receive p50 (producer's answer)", ms(g.AckLatency.Latency.P50Ms), ms(s.AckLatency.Latency.P50Ms))
		p("latency ack→receive p99", ms(g.AckLatency.Latency.P99Ms), ms(s.AckLatency.Latency.P99Ms))
		p("latency ack→receive max", ms(g.AckLatency.Latency.MaxMs), ms(s.AckLatency.Latency.MaxMs))
		p("latency ack→receive p99 (after the ack only)", ms(g.AckLatency.AfterAck.P99Ms), ms(s.AckLatency.AfterAck.P99Ms))
		pct := func(a ackResults) string {
			if a.Latency.Count == 0 {
				return "-"
			}
			return strconv.FormatFloat(100*float64(a.Early)/float64(a.Latency.Count), 'f', 1, 64) + " %"
		}
		p("received before the ack (counted as 0)", pct(g.AckLatency), pct(s.AckLatency))
		p("  by how much p50", ms(g.AckLatency.EarlyBy.P50Ms), ms(s.AckLatency.EarlyBy.P50Ms))
		p("  by how much p99", ms(g.AckLatency.EarlyBy.P99Ms), ms(s.AckLatency.EarlyBy.P99Ms))
		if g.AckLatency.Unacknowledged+s.AckLatency.Unacknowledged > 0 {
			p("records of failed calls (not in ack→receive)", n(g.AckLatency.Unacknowledged), n(s.AckLatency.Unacknowledged))
		}
		p("calls (GetRecords / SubscribeToShard)", n(g.Calls), n(s.Calls))
		p("SubscribeToShardEvents", "", n(s.Events))
		p("errors (after retries)", n(g.Errors), n(s.Errors))
		if g.Foreign+s.Foreign > 0 {
			p("records of other writers (ignored)", n(g.Foreign), n(s.Foreign))
		}
	}
	fmt.Fprintln(w, "\nERRORS")
	p("HTTP attempts", n(r.HTTP.Attempts))
	if r.HTTP.Connections > 0 {
		p("HTTP connections opened", n(r.HTTP.Connections))
	}
	p("throttled attempts (retried or not)", n(r.HTTP.ThrottledAttempts))
	for _, k := range sortedKeys(r.HTTP.ErrorResponses) {
		p("error response "+k, n(r.HTTP.ErrorResponses[k]))
	}
	for _, k := range sortedKeys(r.HTTP.RetriedErrors) {
		p("retryable attempt error "+k, n(r.HTTP.RetriedErrors[k]))
	}
	for _, k := range sortedKeys(r.Put.FailedByCode) {
		p("failed record "+k, n(r.Put.FailedByCode[k]))
	}
	for _, k := range sortedKeys(r.Errors) {
		p("failed call "+k, n(r.Errors[k]))
	}
	if r.ServerCPU != nil || r.BenchCPU != nil {
		fmt.Fprintln(w, "\nCPU (while producing; /proc utime+stime)")
	}
	if c := r.ServerCPU; c != nil {
		p(fmt.Sprintf("server CPU-seconds (pid %d)", c.PID), strconv.FormatFloat(c.Seconds, 'f', 2, 64)+" s")
		p("server cores busy", strconv.FormatFloat(c.Cores, 'f', 2, 64))
		p("records per server CPU-second", n(int64(c.RecordsPerCPUSecond+0.5)))
	}
	if c := r.BenchCPU; c != nil {
		p(fmt.Sprintf("bench CPU-seconds (pid %d)", c.PID), strconv.FormatFloat(c.Seconds, 'f', 2, 64)+" s")
		p("bench cores busy", strconv.FormatFloat(c.Cores, 'f', 2, 64))
	}
	fmt.Fprintln(w)
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
