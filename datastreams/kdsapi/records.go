package kdsapi

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Data-plane operations: PutRecord(s), GetShardIterator, GetRecords.

const (
	maxRecordBytes     = 1 << 20 // data + partition key
	maxPutRecords      = 500
	maxPutRecordsBytes = 5 << 20
	maxGetRecords      = 10000
	maxGetBytes        = 10 << 20
)

// checkRecord validates one record offered to PutRecord(s); member is the
// validation path prefix ("" or "records.3.member."), built only on failure.
func checkRecord(v *validator, data []byte, pk, ehk *string, member func() string) (*datastreams.HashKey, error) {
	if data != nil && pk != nil {
		if n := len(*pk); n >= 1 && n <= 256 && len(data) <= maxRecordBytes {
			return parseExplicitHash(ehk) // the common case: nothing to report
		}
	}
	checkRecordSlow(v, data, pk, member())
	return parseExplicitHash(ehk)
}

func checkRecordSlow(v *validator, data []byte, pk *string, member string) {
	v.required(data != nil, member+"data")
	v.required(pk != nil, member+"partitionKey")
	if pk != nil {
		if n := utf8.RuneCountInString(*pk); n < 1 || n > 256 {
			v.add(*pk, member+"partitionKey", "Member must have length between 1 and 256")
		}
	}
	if len(data) > maxRecordBytes {
		v.add("java.nio.HeapByteBuffer[pos=0 lim="+fmt.Sprint(len(data))+"]", member+"data", "Member must have length less than or equal to 1048576")
	}
}

func parseExplicitHash(ehk *string) (*datastreams.HashKey, error) {
	if ehk == nil {
		return nil, nil
	}
	k, ok := datastreams.ParseHashKey(*ehk)
	if !ok {
		return nil, errf(datastreams.KindInvalidArgument, "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", *ehk)
	}
	return &k, nil
}

func (a *API) putRecord(ctx context.Context, in *putRecordIn) (*putRecordOut, error) {
	var v validator
	ehk, err := checkRecord(&v, in.Data, in.PartitionKey, in.ExplicitHashKey, func() string { return "" })
	if verr := v.err(); verr != nil {
		return nil, verr
	}
	if err != nil {
		return nil, err
	}
	if in.PartitionKey != nil && len(in.Data)+len(*in.PartitionKey) > maxRecordBytes {
		return nil, errf(datastreams.KindInvalidArgument, "Record size (data and partition key) exceeds the 1 MiB limit.")
	}
	if o := in.SequenceNumberForOrdering; o != nil && !datastreams.ValidSeqSyntax(*o) {
		return nil, errf(datastreams.KindInvalidArgument, "ExclusiveMinimumSequenceNumber %s used in PutRecord on stream %s under account %s is invalid.", *o, deref(in.StreamName), a.Core.AccountID)
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	setStream(ctx, s)
	res, err := s.Put([]datastreams.PutEntry{{Key: []byte(*in.PartitionKey), Data: in.Data, ExplicitHash: ehk}})
	if err != nil {
		return nil, err
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	a.observePutRecord(s, len(in.Data)+len(*in.PartitionKey))
	out := &putRecordOut{ShardId: datastreams.ShardID(res[0].Shard), SequenceNumber: datastreams.EncodeSeq(res[0].Shard, res[0].Seq)}
	if s.Encrypted() {
		out.EncryptionType = "KMS"
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (a *API) putRecords(ctx context.Context, in *putRecordsIn) (*putRecordsOut, error) {
	var v validator
	v.required(in.Records != nil, "records")
	if n := len(in.Records); in.Records != nil && (n < 1 || n > maxPutRecords) {
		v.add(fmt.Sprintf("[%d records]", n), "records", fmt.Sprintf("Member must have length between 1 and %d", maxPutRecords))
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	entries := make([]datastreams.PutEntry, len(in.Records))
	total := 0
	for i := range in.Records {
		r := &in.Records[i]
		ehk, err := checkRecord(&v, r.Data, r.PartitionKey, r.ExplicitHashKey, func() string { return fmt.Sprintf("records.%d.member.", i+1) })
		if err != nil {
			return nil, err
		}
		if r.PartitionKey == nil || r.Data == nil {
			continue
		}
		total += len(r.Data) + len(*r.PartitionKey)
		entries[i] = datastreams.PutEntry{Key: []byte(*r.PartitionKey), Data: r.Data, ExplicitHash: ehk}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if total > maxPutRecordsBytes {
		return nil, errf(datastreams.KindInvalidArgument, "Records size exceeds %d MiB limit", maxPutRecordsBytes>>20)
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	setStream(ctx, s)
	res, err := s.Put(entries)
	if err != nil {
		return nil, err
	}
	a.observePutRecords(s, entries, res)
	out := &putRecordsOut{Records: make([]putRecordsResult, len(res))}
	for i, r := range res {
		if r.Err != nil {
			out.FailedRecordCount++
			_, _, msg := ErrorCode(r.Err)
			out.Records[i] = putRecordsResult{ErrorCode: recordErrorCode(r.Err), ErrorMessage: msg}
			continue
		}
		out.Records[i] = putRecordsResult{SequenceNumber: datastreams.EncodeSeq(r.Shard, r.Seq), ShardId: datastreams.ShardID(r.Shard)}
	}
	if s.Encrypted() {
		out.EncryptionType = "KMS"
	}
	return out, nil
}

var iteratorTypes = "[AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"

// position resolves a starting position (GetShardIterator and
// SubscribeToShard share it) to the next log sequence to read; 0 means the
// trim horizon, whatever it is when reading starts.
func (a *API) position(s *datastreams.Stream, sh *datastreams.Shard, typ string, seq *string, ts *Timestamp) (uint64, error) {
	needSeq := typ == "AT_SEQUENCE_NUMBER" || typ == "AFTER_SEQUENCE_NUMBER"
	if needSeq != (seq != nil) {
		return 0, errf(datastreams.KindInvalidArgument, "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified %s and %s StartingSequenceNumber.",
			typ, map[bool]string{true: "a", false: "no"}[seq != nil])
	}
	switch typ {
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
		idx, ls, ok := datastreams.DecodeSeq(*seq)
		if !ok {
			return 0, errf(datastreams.KindInvalidArgument, "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid.", *seq, sh.ID(), s.Name(), a.Core.AccountID)
		}
		if idx != sh.Index {
			return 0, errf(datastreams.KindInvalidArgument, "Invalid StartingSequenceNumber. It encodes %s, while it was used in a call to a shard with %s", datastreams.ShardID(idx), sh.ID())
		}
		if typ == "AFTER_SEQUENCE_NUMBER" {
			ls++
		}
		return ls, nil
	case "TRIM_HORIZON":
		return 0, nil
	case "LATEST":
		return s.Tip(sh), nil
	case "AT_TIMESTAMP":
		if ts == nil {
			return 0, errf(datastreams.KindInvalidArgument, "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
		}
		if now := a.Core.Now(); ts.After(now) {
			return 0, errf(datastreams.KindInvalidArgument, "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", ts.UnixMilli(), now.UnixMilli())
		}
		return s.SeqAtTime(sh, ts.Time), nil
	}
	return 0, errf(datastreams.KindValidation, "1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: %s", typ, iteratorTypes)
}

func (a *API) getShardIterator(_ context.Context, in *getShardIteratorIn) (*getShardIteratorOut, error) {
	var v validator
	v.required(in.ShardId != nil, "shardId")
	v.required(in.ShardIteratorType != nil, "shardIteratorType")
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	idx, ok := datastreams.ParseShardID(*in.ShardId)
	if !ok {
		return nil, errf(datastreams.KindNotFound, "Shard %s in stream %s under account %s does not exist", *in.ShardId, s.Name(), a.Core.AccountID)
	}
	sh, err := s.Shard(idx)
	if err != nil {
		return nil, err
	}
	pos, err := a.position(s, sh, *in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp)
	if err != nil {
		return nil, err
	}
	info := s.Info()
	if info.Status != datastreams.StatusActive && info.Status != datastreams.StatusUpdating {
		return nil, a.Core.StreamNotFound(s.Name())
	}
	tok := a.Core.IteratorToken(datastreams.Iterator{Stream: s.Name(), Created: info.Created.UnixNano(), Shard: sh.Index, Seq: pos, Issued: a.Core.Now()})
	return &getShardIteratorOut{ShardIterator: tok}, nil
}

// iteratorShard resolves an iterator to its stream and shard.
func (a *API) iteratorShard(it datastreams.Iterator) (*datastreams.Stream, *datastreams.Shard, error) {
	s, err := a.dataStream(it.Stream)
	if err != nil {
		return nil, nil, err
	}
	if s.Created().UnixNano() != it.Created {
		return nil, nil, errf(datastreams.KindInvalidArgument, "Invalid ShardIterator.")
	}
	sh, err := s.Shard(it.Shard)
	if err != nil {
		return nil, nil, err
	}
	return s, sh, nil
}

func toRecords(shard int, recs []logstore.Record, kms bool) []recordOut {
	out := make([]recordOut, len(recs))
	enc := ""
	if kms {
		enc = "KMS"
	}
	for i := range recs {
		r := &recs[i]
		out[i] = recordOut{
			SequenceNumber:              datastreams.EncodeSeq(shard, r.Seq),
			ApproximateArrivalTimestamp: Ts(time.Unix(0, r.Time)),
			Data:                        r.Data,
			PartitionKey:                string(r.Key),
			EncryptionType:              enc,
		}
	}
	return out
}

func childShardsOf(s *datastreams.Stream, sh *datastreams.Shard) []childShard {
	var out []childShard
	for _, c := range s.Children(sh) {
		parents := []string{c.ParentID}
		if c.AdjacentID != "" {
			parents = append(parents, c.AdjacentID)
		}
		out = append(out, childShard{ShardId: c.ID, ParentShards: parents, HashKeyRange: hashKeyRange{c.Start.String(), c.End.String()}})
	}
	return out
}

func (a *API) getRecords(ctx context.Context, in *getRecordsIn) (*getRecordsOut, error) {
	var v validator
	v.required(in.ShardIterator != nil, "shardIterator")
	v.intRange(in.Limit, "limit", 1, maxGetRecords)
	if err := v.err(); err != nil {
		return nil, err
	}
	it, err := a.Core.ParseIterator(*in.ShardIterator)
	if err != nil {
		return nil, err
	}
	s, sh, err := a.iteratorShard(it)
	if err != nil {
		return nil, err
	}
	setStream(ctx, s)
	limit := maxGetRecords
	if in.Limit != nil {
		limit = *in.Limit
	}
	res, err := s.Read(sh, it.Seq, limit, maxGetBytes, true)
	if err != nil {
		return nil, err
	}
	a.observeGetRecords(s, res)
	out := &getRecordsOut{log: &logRecords{shard: sh.Index, recs: res.Records, kms: s.Encrypted()}, MillisBehindLatest: res.BehindMillis}
	if res.AtEnd {
		out.ChildShards = childShardsOf(s, sh)
		if out.ChildShards == nil {
			out.ChildShards = []childShard{}
		}
	} else {
		it.Seq, it.Issued = res.Next, a.Core.Now()
		out.NextShardIterator = ptr(a.Core.IteratorToken(it))
	}
	return out, nil
}
