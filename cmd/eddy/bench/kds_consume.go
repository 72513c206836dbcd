package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// recvPath is one way of reading the stream (GetRecords polling or
// SubscribeToShard), with a receiver per shard.
type recvPath struct {
	name   string
	shards map[string]*shardRecv
}

// shardRecv is what one consumer goroutine learned about one shard. The
// goroutine owns last and lat; the atomics are read by progress and drain.
type shardRecv struct {
	unique     atomic.Int64  // distinct records of this run
	hash       atomic.Uint64 // wrapping sum of seqHash over them
	deliveries atomic.Int64  // records of this run, duplicates included
	foreign    atomic.Int64  // records not written by this run
	calls      atomic.Int64  // GetRecords calls or SubscribeToShard calls
	events     atomic.Int64  // SubscribeToShardEvents
	errors     atomic.Int64

	last    string  // highest sequence number received
	lat     latHist // producer send → receipt
	arrival latHist // server's ApproximateArrivalTimestamp → receipt
	ack     ackLat  // acknowledgement (PutRecords answer at the producer) → receipt
}

func newRecvPath(name string, shards []string) *recvPath {
	p := &recvPath{name: name, shards: map[string]*shardRecv{}}
	for _, s := range shards {
		p.shards[s] = &shardRecv{}
	}
	return p
}

func (p *recvPath) received() int64 {
	var n int64
	for _, s := range p.shards {
		n += s.unique.Load()
	}
	return n
}

// caughtUp reports whether every shard holds as many distinct records as
// were put to it.
func (p *recvPath) caughtUp(expected map[string]shardTally) bool {
	for id, e := range expected {
		s := p.shards[id]
		if s == nil || s.unique.Load() < e.count {
			return false
		}
	}
	return true
}

// seqLess compares decimal sequence numbers.
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// receive accounts for records read from one shard, in shard order: a
// record at or below the highest sequence number seen is a duplicate.
func (b *kdsBench) receive(sr *shardRecv, recs []types.Record, now time.Time) {
	nowNs := now.UnixNano()
	var ours, foreign, fresh int64
	var hash uint64
	for i := range recs {
		r := &recs[i]
		if len(r.Data) < benchHeaderBytes || !bytes.Equal(r.Data[8:16], b.runID[:]) {
			foreign++
			continue
		}
		ours++
		seq := aws.ToString(r.SequenceNumber)
		if sr.last != "" && !seqLess(sr.last, seq) {
			continue
		}
		sr.last = seq
		fresh++
		hash += seqHash(seq)
		send := binary.BigEndian.Uint64(r.Data)
		sr.lat.record(nowNs - int64(send))
		sr.ack.record(&b.acks, send, nowNs)
		if r.ApproximateArrivalTimestamp != nil {
			sr.arrival.record(nowNs - r.ApproximateArrivalTimestamp.UnixNano())
		}
	}
	if foreign > 0 {
		sr.foreign.Add(foreign)
	}
	if ours > 0 {
		sr.deliveries.Add(ours)
	}
	if fresh > 0 {
		sr.hash.Add(hash)
		sr.unique.Add(fresh)
	}
}

// startConsumers registers the enhanced fan-out consumer and starts the
// pollers and subscribers, returning once each has its starting position
// (so that, reading from LATEST, none misses the first records).
func (b *kdsBench) startConsumers(setupCtx, ctx context.Context, wg *sync.WaitGroup) error {
	b.get = newRecvPath("GetRecords", b.shards)
	b.sub = newRecvPath("SubscribeToShard", b.shards)
	b.consumer = "eddy-bench-" + strconv.FormatInt(time.Now().Unix(), 10) + "-" + fmt.Sprintf("%x", b.runID[:3])
	c, cancel := callCtx(setupCtx)
	out, err := b.kc.RegisterStreamConsumer(c, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(b.streamARN), ConsumerName: aws.String(b.consumer)})
	cancel()
	if err != nil {
		return fmt.Errorf("register stream consumer: %w", err)
	}
	b.consumerARN = aws.ToString(out.Consumer.ConsumerARN)
	delay := 50 * time.Millisecond
	deadline := time.Now().Add(5 * time.Minute)
	for status := out.Consumer.ConsumerStatus; status != types.ConsumerStatusActive; {
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer %s still %s after 5 minutes", b.consumer, status)
		}
		if err := sleepCtx(setupCtx, delay); err != nil {
			return err
		}
		delay = min(2*delay, 2*time.Second)
		c, cancel := callCtx(setupCtx)
		d, err := b.kc.DescribeStreamConsumer(c, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(b.consumerARN)})
		cancel()
		if err != nil {
			return fmt.Errorf("describe stream consumer: %w", err)
		}
		status = d.ConsumerDescription.ConsumerStatus
	}

	start := types.ShardIteratorTypeLatest
	if b.fromStart {
		start = types.ShardIteratorTypeTrimHorizon
	}
	var ready sync.WaitGroup
	for _, shard := range b.shards {
		ready.Add(2)
		wg.Go(func() { b.poll(ctx, shard, start, ready.Done) })
		wg.Go(func() { b.subscribe(ctx, shard, start, ready.Done) })
	}
	allReady := make(chan struct{})
	go func() { ready.Wait(); close(allReady) }()
	select {
	case <-allReady:
		return nil
	case <-time.After(time.Minute):
		return errors.New("consumers did not start within a minute")
	case <-setupCtx.Done():
		return setupCtx.Err()
	}
}

// poll reads one shard with GetRecords until ctx ends or the shard closes.
// ready is called once the first iterator is in hand (or polling ends).
func (b *kdsBench) poll(ctx context.Context, shard string, start types.ShardIteratorType, ready func()) {
	sr := b.get.shards[shard]
	var once sync.Once
	defer once.Do(ready)
	iterator := func() (*string, error) {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String(b.stream), ShardId: aws.String(shard), ShardIteratorType: start}
		if sr.last != "" {
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
			in.StartingSequenceNumber = aws.String(sr.last)
		}
		c, cancel := callCtx(ctx)
		defer cancel()
		out, err := b.kc.GetShardIterator(c, in)
		if err != nil {
			return nil, err
		}
		return out.ShardIterator, nil
	}
	var it *string
	for ctx.Err() == nil {
		if it == nil {
			var err error
			if it, err = iterator(); err != nil {
				if ctx.Err() == nil {
					sr.errors.Add(1)
					b.noteErr("GetShardIterator", err)
					_ = sleepCtx(ctx, 100*time.Millisecond)
				}
				continue
			}
			once.Do(ready)
		}
		c, cancel := callCtx(ctx)
		out, err := b.kc.GetRecords(c, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(10000)})
		cancel()
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			sr.errors.Add(1)
			b.noteErr("GetRecords", err)
			var expired *types.ExpiredIteratorException
			var invalid *types.InvalidArgumentException
			if errors.As(err, &expired) || errors.As(err, &invalid) {
				it = nil
			}
			_ = sleepCtx(ctx, max(b.cfg.PollInterval, 10*time.Millisecond))
			continue
		}
		sr.calls.Add(1)
		b.receive(sr, out.Records, now)
		if out.NextShardIterator == nil {
			return // the shard is closed and fully read
		}
		it = out.NextShardIterator
		if len(out.Records) == 0 && b.cfg.PollInterval > 0 {
			if sleepCtx(ctx, b.cfg.PollInterval) != nil {
				return
			}
		}
	}
}

// subscribe reads one shard through the enhanced fan-out consumer,
// subscribing again, after the last ContinuationSequenceNumber, whenever a
// subscription ends. ready is called once the first subscription is
// established (or subscribing ends).
func (b *kdsBench) subscribe(ctx context.Context, shard string, start types.ShardIteratorType, ready func()) {
	sr := b.sub.shards[shard]
	var once sync.Once
	defer once.Do(ready)
	pos := &types.StartingPosition{Type: start}
	var last time.Time
	for ctx.Err() == nil {
		// At most one SubscribeToShard per second per consumer and shard.
		if d := time.Until(last.Add(time.Second)); d > 0 && sleepCtx(ctx, d) != nil {
			return
		}
		last = time.Now()
		sr.calls.Add(1)
		// A client of its own per subscription: smithy-go v1.28.8 shares
		// event-stream decoding state between a client's concurrent
		// streams (a data race, aws/smithy-go#714).
		kc := kinesis.New(b.kc.Options())
		out, err := kc.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(b.consumerARN), ShardId: aws.String(shard), StartingPosition: pos})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			sr.errors.Add(1)
			b.noteErr("SubscribeToShard", err)
			// A takeover needs the old subscription to be 5 seconds old.
			var inUse *types.ResourceInUseException
			if errors.As(err, &inUse) {
				_ = sleepCtx(ctx, time.Second)
			}
			continue
		}
		once.Do(ready)
		stream := out.GetStream()
		closed := false
	events:
		for {
			select {
			case ev, ok := <-stream.Events():
				if !ok {
					break events
				}
				now := time.Now()
				e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
				if !ok {
					continue
				}
				sr.events.Add(1)
				b.receive(sr, e.Value.Records, now)
				if c := e.Value.ContinuationSequenceNumber; c != nil {
					pos = &types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(*c)}
				}
				if len(e.Value.ChildShards) > 0 {
					closed = true // the shard is closed and fully read
				}
			case <-ctx.Done():
				break events
			}
		}
		_ = stream.Close()
		if err := stream.Err(); err != nil && ctx.Err() == nil {
			sr.errors.Add(1)
			b.noteErr("SubscribeToShard stream", err)
		}
		if closed {
			return
		}
	}
}
