package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kdstypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// eventPoll is how often an idle shard is asked for new records (AWS
// allows five GetRecords a second per shard).
const eventPoll = 500 * time.Millisecond

// eventLine is one record as `events tail --json` prints it (one JSON
// object a line).
type eventLine struct {
	Stream         string          `json:"stream"`
	ShardID        string          `json:"shardId"`
	SequenceNumber string          `json:"sequenceNumber"`
	PartitionKey   string          `json:"partitionKey"`
	Arrival        time.Time       `json:"arrivalTime"`
	Data           json.RawMessage `json:"data,omitempty"`       // a JSON record, as it is
	DataBase64     string          `json:"dataBase64,omitempty"` // anything else
}

// fragmentEvent is the record Eddy appends for every persisted fragment.
type fragmentEvent struct {
	Type           string `json:"type"`
	FragmentNumber string `json:"fragmentNumber"`
	Producer       int64  `json:"producerTimestamp"`
	DurationMS     int64  `json:"fragmentLengthInMilliseconds"`
	Size           int64  `json:"fragmentSizeInBytes"`
	Keyframe       bool   `json:"keyframe"`
}

// eventsTail prints a stream's events as they arrive: eddy events tail.
func (c *cli) eventsTail(ctx context.Context, args []string) error {
	cmd := c.command("events tail", "STREAM [--since 1h] [-n N]",
		`Prints a video stream's events (its event stream, NAME.events), or any data stream's records,
as they arrive, like tail -f; --since starts back in time, -n stops after N records.`)
	since := cmd.fs.String("since", "", "start this far back (15m, 1h), or at a time (RFC 3339, local); default: new records only")
	count := cmd.fs.Int("n", 0, "stop after this many records (0: follow until interrupted)")
	pos, cl, err := cmd.parse(ctx, args, 1)
	if err != nil {
		return err
	}
	var from time.Time
	if *since != "" {
		if from, err = parseWhen(*since, c.now()); err != nil {
			return err
		}
	}
	name, shards, err := cl.eventShards(ctx, pos[0], !from.IsZero())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := &tail{cl: cl, stream: name, from: from, records: make(chan eventLine, 64), started: map[string]bool{}}
	for _, s := range shards {
		t.follow(ctx, aws.ToString(s.ShardId), false)
	}
	go func() { t.wg.Wait(); close(t.records) }()
	n := 0
	for rec := range t.records {
		if err := c.printEvent(cmd.json, rec); err != nil {
			return err
		}
		if n++; *count > 0 && n >= *count {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted: the usual end of a tail
	}
	return t.err
}

// eventShards finds the data stream to tail, NAME.events first, then NAME
// itself (a data stream), and the shards to start from: the open ones,
// or with a start time every shard still holding records.
func (cl *clients) eventShards(ctx context.Context, name string, all bool) (string, []kdstypes.Shard, error) {
	names := []string{name}
	if !strings.HasSuffix(name, eventsSuffix) {
		names = []string{name + eventsSuffix, name}
	}
	var firstErr error
	for _, n := range names {
		var shards []kdstypes.Shard
		in := &kinesis.ListShardsInput{StreamName: aws.String(n)}
		for {
			out, err := cl.kds.ListShards(ctx, in)
			if err != nil {
				shards, err = nil, cl.apiError(err)
				if firstErr == nil {
					firstErr = err
				}
				break
			}
			for _, s := range out.Shards {
				if all || s.SequenceNumberRange.EndingSequenceNumber == nil {
					shards = append(shards, s)
				}
			}
			if out.NextToken == nil {
				return n, shards, nil
			}
			in = &kinesis.ListShardsInput{NextToken: out.NextToken}
		}
		if !errNotFound(firstErr) {
			break
		}
	}
	return "", nil, firstErr
}

// tail follows a stream's shards, one goroutine each, and their children
// when they close.
type tail struct {
	cl      *clients
	stream  string
	from    time.Time
	records chan eventLine
	wg      sync.WaitGroup
	mu      sync.Mutex // guards started and err
	started map[string]bool
	err     error
}

// follow starts reading shard; a child shard (of one that closed while
// followed) is read from its start, so nothing is skipped.
func (t *tail) follow(ctx context.Context, shard string, child bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started[shard] {
		return
	}
	t.started[shard] = true
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := t.shard(ctx, shard, child); err != nil && ctx.Err() == nil {
			t.mu.Lock()
			t.err = errors.Join(t.err, err)
			t.mu.Unlock()
		}
	}()
}

// shard reads one shard until it closes (then follows its children) or
// ctx ends.
func (t *tail) shard(ctx context.Context, shard string, child bool) error {
	it, err := t.iterator(ctx, shard, "", child)
	if err != nil {
		return err
	}
	last := ""
	for it != nil {
		out, err := t.cl.kds.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		var ee *kdstypes.ExpiredIteratorException
		var te *kdstypes.ProvisionedThroughputExceededException
		switch {
		case errors.As(err, &ee):
			if it, err = t.iterator(ctx, shard, last, child); err != nil {
				return err
			}
			continue
		case errors.As(err, &te):
			out = &kinesis.GetRecordsOutput{NextShardIterator: it}
		case err != nil:
			return t.cl.apiError(err)
		}
		for _, r := range out.Records {
			last = aws.ToString(r.SequenceNumber)
			select {
			case t.records <- t.line(shard, &r):
			case <-ctx.Done():
				return nil
			}
		}
		it = out.NextShardIterator
		if len(out.Records) == 0 || errors.As(err, &te) {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(eventPoll):
			}
		}
		for _, c := range out.ChildShards {
			t.follow(ctx, aws.ToString(c.ShardId), true)
		}
	}
	return nil
}

// iterator starts a shard: after the last record read, at the start time,
// at the oldest record of a child shard, or at the newest.
func (t *tail) iterator(ctx context.Context, shard, after string, child bool) (*string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(t.stream), ShardId: aws.String(shard), ShardIteratorType: kdstypes.ShardIteratorTypeLatest}
	switch {
	case after != "":
		in.ShardIteratorType, in.StartingSequenceNumber = kdstypes.ShardIteratorTypeAfterSequenceNumber, aws.String(after)
	case !t.from.IsZero():
		in.ShardIteratorType, in.Timestamp = kdstypes.ShardIteratorTypeAtTimestamp, aws.Time(t.from)
	case child:
		in.ShardIteratorType = kdstypes.ShardIteratorTypeTrimHorizon
	}
	out, err := t.cl.kds.GetShardIterator(ctx, in)
	if err != nil {
		return nil, t.cl.apiError(err)
	}
	return out.ShardIterator, nil
}

func (t *tail) line(shard string, r *kdstypes.Record) eventLine {
	l := eventLine{Stream: t.stream, ShardID: shard, SequenceNumber: aws.ToString(r.SequenceNumber),
		PartitionKey: aws.ToString(r.PartitionKey), Arrival: aws.ToTime(r.ApproximateArrivalTimestamp)}
	if json.Valid(r.Data) {
		l.Data = r.Data
	} else {
		l.DataBase64 = base64.StdEncoding.EncodeToString(r.Data)
	}
	return l
}

// printEvent writes one record: a JSON line, or a line for people (a
// fragment event spelled out, other JSON as it is, other bytes counted).
func (c *cli) printEvent(asJSON bool, e eventLine) error {
	if asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "%s  %s\n", humanTime(e.Arrival, true), describeEvent(e))
	return err
}

func describeEvent(e eventLine) string {
	var f fragmentEvent
	if e.Data != nil && json.Unmarshal(e.Data, &f) == nil && f.Type == "fragment" {
		s := fmt.Sprintf("fragment %s  producer %s  %s  %s", f.FragmentNumber, humanTime(time.UnixMilli(f.Producer), true),
			humanDuration(time.Duration(f.DurationMS)*time.Millisecond), humanBytes(f.Size))
		if f.Keyframe {
			s += "  keyframe"
		}
		return s
	}
	if e.Data != nil {
		return e.PartitionKey + "  " + string(e.Data)
	}
	b, _ := base64.StdEncoding.DecodeString(e.DataBase64)
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return r < ' ' && r != '\t' }) {
		return e.PartitionKey + "  " + string(b)
	}
	return fmt.Sprintf("%s  (%s of binary data)", e.PartitionKey, humanBytes(int64(len(b))))
}
