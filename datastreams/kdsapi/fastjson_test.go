package kdsapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// The hand-written encoders must say exactly what encoding/json says.
func sameJSON(t *testing.T, v jsonAppender) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got := v.appendJSON(nil)
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("hand-written JSON does not parse: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("hand-written JSON differs\n got %s\nwant %s", got, want)
	}
}

func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	ts := Ts(time.UnixMilli(1700000000123))
	sameJSON(t, &putRecordsOut{FailedRecordCount: 1, Records: []putRecordsResult{
		{SequenceNumber: datastreams.EncodeSeq(1, 2), ShardId: datastreams.ShardID(1)},
		{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "Rate \"exceeded\" \\ for\n shard"},
	}, EncryptionType: "KMS"})
	sameJSON(t, &putRecordsOut{Records: []putRecordsResult{}})
	sameJSON(t, &getRecordsOut{Records: []recordOut{
		{SequenceNumber: "1", ApproximateArrivalTimestamp: ts, Data: []byte{0, 1, 2, 255}, PartitionKey: "key \u2028 ü \x01 \xff"},
		{SequenceNumber: "2", ApproximateArrivalTimestamp: ts, Data: []byte{}, PartitionKey: "<&>", EncryptionType: "KMS"},
	}, NextShardIterator: ptr("abc"), MillisBehindLatest: 42})
	sameJSON(t, &subscribeEvent{Records: []recordOut{{SequenceNumber: "9", ApproximateArrivalTimestamp: ts, Data: []byte("x"), PartitionKey: "p"}},
		ContinuationSequenceNumber: "9", MillisBehindLatest: 3, ChildShards: []childShard{{ShardId: "s", ParentShards: []string{"p"}, HashKeyRange: hashKeyRange{"1", "2"}}}})
	sameJSON(t, &subscribeEvent{Records: []recordOut{}, ContinuationSequenceNumber: "1"})
	sameJSON(t, &getRecordsOut{Records: []recordOut{}, ChildShards: []childShard{
		{ShardId: "shardId-000000000002", ParentShards: []string{"shardId-000000000000", "shardId-000000000001"}, HashKeyRange: hashKeyRange{"0", "9"}}}})
}

func FuzzFastJSONString(f *testing.F) {
	f.Add("plain", []byte{1, 2})
	f.Add("\"\\\n\t\x00\u2029\xc3(", []byte{})
	f.Fuzz(func(t *testing.T, s string, data []byte) {
		sameJSON(t, &getRecordsOut{Records: []recordOut{{SequenceNumber: s, ApproximateArrivalTimestamp: Ts(time.UnixMilli(5)), Data: data, PartitionKey: s}}, MillisBehindLatest: 1})
	})
}

// The size hints must cover real records, or every response regrows (and
// copies) its buffer.
func TestFastJSONSizeHintCovers(t *testing.T) {
	recs := make([]recordOut, 500)
	logRecs := make([]logstore.Record, len(recs))
	for i := range recs {
		logRecs[i] = logstore.Record{Seq: 1<<62 + uint64(i), Time: time.Date(2286, 1, 1, 0, 0, 0, 123e6, time.UTC).UnixNano(),
			Key: []byte("partition-key-" + string(rune('a'+i%26))), Data: make([]byte, 100+i%3)}
		recs[i] = recordOut{
			SequenceNumber:              datastreams.EncodeSeq(4095, 1<<62+uint64(i)),
			ApproximateArrivalTimestamp: Ts(time.Date(2286, 1, 1, 0, 0, 0, 123e6, time.UTC)),
			Data:                        make([]byte, 100+i%3),
			PartitionKey:                "partition-key-" + string(rune('a'+i%26)),
			EncryptionType:              "KMS",
		}
	}
	for _, v := range []jsonAppender{
		&getRecordsOut{Records: recs, NextShardIterator: ptr("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), MillisBehindLatest: 1 << 40},
		&subscribeEvent{Records: recs, ContinuationSequenceNumber: recs[499].SequenceNumber, MillisBehindLatest: 1 << 40},
		&subscribeEvent{log: &logRecords{shard: 4095, recs: logRecs, kms: true}, ContinuationSequenceNumber: recs[499].SequenceNumber, MillisBehindLatest: 1 << 40},
	} {
		if got, hint := len(v.appendJSON(nil)), v.jsonSizeHint(); got > hint {
			t.Errorf("%T: %d bytes of JSON, size hint %d", v, got, hint)
		}
	}
}

// appendLogRecordsJSON must write byte for byte what appendRecordsJSON
// writes for toRecords of the same records (which sameJSON ties to
// encoding/json).
func sameLogRecordsJSON(t *testing.T, shard int, recs []logstore.Record, kms bool) {
	t.Helper()
	want := appendRecordsJSON([]byte("x"), toRecords(shard, recs, kms))
	got := appendLogRecordsJSON([]byte("x"), &logRecords{shard: shard, recs: recs, kms: kms})
	if !bytes.Equal(got, want) {
		t.Fatalf("log records JSON differs\n got %s\nwant %s", got, want)
	}
	fast := &subscribeEvent{log: &logRecords{shard: shard, recs: recs, kms: kms}, ContinuationSequenceNumber: "7", MillisBehindLatest: 2}
	slow := &subscribeEvent{Records: toRecords(shard, recs, kms), ContinuationSequenceNumber: "7", MillisBehindLatest: 2}
	fastGet := &getRecordsOut{log: &logRecords{shard: shard, recs: recs, kms: kms}, NextShardIterator: ptr("it"), MillisBehindLatest: 2}
	slowGet := &getRecordsOut{Records: toRecords(shard, recs, kms), NextShardIterator: ptr("it"), MillisBehindLatest: 2}
	sameJSON(t, slow)
	sameJSON(t, slowGet)
	for _, c := range []struct{ fast, slow any }{{fast, slow}, {fastGet, slowGet}} {
		for _, cd := range []codec{codecJSON, codecCBOR} {
			a, err := cd.encode(c.fast)
			if err != nil {
				t.Fatal(err)
			}
			b, err := cd.encode(c.slow)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("%T (codec %d) from log records differs\n got %q\nwant %q", c.fast, cd, a, b)
			}
		}
	}
}

func TestLogRecordsJSON(t *testing.T) {
	recs := []logstore.Record{
		{Seq: 1, Time: 1700000000123456789, Key: []byte("key \u2028 ü \x01 \xff"), Data: []byte{0, 1, 2, 255}},
		{Seq: 1 << 63, Time: 5, Key: []byte(`<&>"\`), Data: []byte{}},
		{Seq: 3, Time: -1, Key: []byte{}, Data: nil},
	}
	for _, kms := range []bool{false, true} {
		sameLogRecordsJSON(t, 4095, recs, kms)
		sameLogRecordsJSON(t, 0, recs[:0], kms)
	}
}

func FuzzLogRecordsJSON(f *testing.F) {
	f.Add(uint16(0), uint64(1), int64(1700000000123456789), []byte("pk"), []byte{1, 2}, false, false)
	f.Add(uint16(9), uint64(1<<63), int64(-5), []byte("\"\\\n\t\x00\u2029\xc3("), []byte{}, true, true)
	f.Fuzz(func(t *testing.T, shard uint16, seq uint64, ts int64, key, data []byte, nilData, kms bool) {
		if nilData {
			data = nil
		}
		sameLogRecordsJSON(t, int(shard), []logstore.Record{{Seq: seq, Time: ts, Key: key, Data: data}, {Seq: seq + 1, Time: ts, Key: data, Data: key}}, kms)
	})
}
