package kdsapi

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/awsjson"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// Hand-written JSON encoders for the two responses on the hot path
// (PutRecords and GetRecords). They produce what encoding/json produces for
// the same values (fastjson_test.go checks this) without reflection.

type jsonAppender interface {
	appendJSON(dst []byte) []byte
	jsonSizeHint() int // a capacity that usually avoids regrowing
}

func (o *putRecordsOut) jsonSizeHint() int { return 64 + 90*len(o.Records) }

// recordJSONOverhead bounds what a record's JSON takes besides its key and
// base64 data: the field names and punctuation (about 90 bytes), a 31-digit
// sequence number, a 14-byte timestamp and the 23 of an EncryptionType.
// (At 120 a 100-byte record overflowed the hint and every response
// regrew its buffer once, copying it: 8 % of the allocated bytes under
// eddy bench kds.)
const recordJSONOverhead = 160

func recordsSizeHint(recs []recordOut) int {
	n := 64
	for i := range recs {
		n += recordJSONOverhead + len(recs[i].PartitionKey) + (len(recs[i].Data)+2)/3*4
	}
	return n
}

func (o *getRecordsOut) jsonSizeHint() int {
	if o.log != nil {
		return 512 + o.log.sizeHint()
	}
	return 512 + recordsSizeHint(o.Records)
}

func (e *subscribeEvent) jsonSizeHint() int {
	if e.log != nil {
		return 256 + e.log.sizeHint()
	}
	return 256 + recordsSizeHint(e.Records)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping like encoding/json
// (minus its HTML escaping, which JSON readers don't need) and replacing
// invalid UTF-8 with U+FFFD.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		// (A conversion of at most 4 bytes: no allocation for a []byte.)
		r, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func (o *putRecordsOut) appendJSON(b []byte) []byte {
	b = append(b, `{"FailedRecordCount":`...)
	b = strconv.AppendInt(b, int64(o.FailedRecordCount), 10)
	b = append(b, `,"Records":[`...)
	for i := range o.Records {
		r := &o.Records[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		sep := false
		field := func(name, v string) {
			if v == "" {
				return
			}
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendJSONString(b, v)
		}
		field("SequenceNumber", r.SequenceNumber)
		field("ShardId", r.ShardId)
		field("ErrorCode", r.ErrorCode)
		field("ErrorMessage", r.ErrorMessage)
		b = append(b, '}')
	}
	b = append(b, ']')
	if o.EncryptionType != "" {
		b = append(b, `,"EncryptionType":`...)
		b = appendJSONString(b, o.EncryptionType)
	}
	return append(b, '}')
}

// appendRecordsJSON appends a Records array (null for a nil slice, as
// encoding/json writes it).
func appendRecordsJSON(b []byte, recs []recordOut) []byte {
	if recs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range recs {
		r := &recs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"SequenceNumber":`...)
		b = appendJSONString(b, r.SequenceNumber)
		b = append(b, `,"ApproximateArrivalTimestamp":`...)
		if r.ApproximateArrivalTimestamp == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, float64(r.ApproximateArrivalTimestamp.UnixMilli())/1000, 'f', 3, 64)
		}
		b = append(b, `,"Data":`...)
		if r.Data == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, r.Data)
			b = append(b, '"')
		}
		b = append(b, `,"PartitionKey":`...)
		b = appendJSONString(b, r.PartitionKey)
		if r.EncryptionType != "" {
			b = append(b, `,"EncryptionType":`...)
			b = appendJSONString(b, r.EncryptionType)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// logRecords are records as the log holds them, encoded by
// appendLogRecordsJSON as appendRecordsJSON encodes toRecords of them, but
// without building the intermediate recordOut values (a string for each
// sequence number and partition key, a Timestamp each: about 11 % of the
// bytes the server allocated under eddy bench kds with consumers).
type logRecords struct {
	shard int
	recs  []logstore.Record
	kms   bool
}

func (l *logRecords) toRecords() []recordOut { return toRecords(l.shard, l.recs, l.kms) }

func (l *logRecords) sizeHint() int {
	n := 64
	for i := range l.recs {
		n += recordJSONOverhead + len(l.recs[i].Key) + (len(l.recs[i].Data)+2)/3*4
	}
	return n
}

func appendLogRecordsJSON(b []byte, l *logRecords) []byte {
	b = append(b, '[')
	for i := range l.recs {
		r := &l.recs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"SequenceNumber":"`...)
		b = datastreams.AppendSeq(b, l.shard, r.Seq) // digits: nothing to escape
		b = append(b, `","ApproximateArrivalTimestamp":`...)
		b = awsjson.AppendTimestamp(b, time.Unix(0, r.Time))
		if r.Data == nil {
			b = append(b, `,"Data":null,"PartitionKey":`...)
		} else {
			b = append(b, `,"Data":"`...)
			b = base64.StdEncoding.AppendEncode(b, r.Data)
			b = append(b, `","PartitionKey":`...)
		}
		b = appendJSONString(b, r.Key)
		if l.kms {
			b = append(b, `,"EncryptionType":"KMS"`...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func (o *getRecordsOut) appendJSON(b []byte) []byte {
	b = append(b, `{"Records":`...)
	if o.log != nil {
		b = appendLogRecordsJSON(b, o.log)
	} else {
		b = appendRecordsJSON(b, o.Records)
	}
	if o.NextShardIterator != nil {
		b = append(b, `,"NextShardIterator":`...)
		b = appendJSONString(b, *o.NextShardIterator)
	}
	b = append(b, `,"MillisBehindLatest":`...)
	b = strconv.AppendInt(b, o.MillisBehindLatest, 10)
	b = appendChildShardsJSON(b, o.ChildShards)
	return append(b, '}')
}

func appendChildShardsJSON(b []byte, cs []childShard) []byte {
	if len(cs) == 0 {
		return b
	}
	b = append(b, `,"ChildShards":[`...)
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"ShardId":`...)
		b = appendJSONString(b, c.ShardId)
		b = append(b, `,"ParentShards":[`...)
		for j, p := range c.ParentShards {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, p)
		}
		b = append(b, `],"HashKeyRange":{"StartingHashKey":`...)
		b = appendJSONString(b, c.HashKeyRange.StartingHashKey)
		b = append(b, `,"EndingHashKey":`...)
		b = appendJSONString(b, c.HashKeyRange.EndingHashKey)
		b = append(b, "}}"...)
	}
	return append(b, ']')
}

func (e *subscribeEvent) appendJSON(b []byte) []byte {
	b = append(b, `{"Records":`...)
	if e.log != nil {
		b = appendLogRecordsJSON(b, e.log)
	} else {
		b = appendRecordsJSON(b, e.Records)
	}
	b = append(b, `,"ContinuationSequenceNumber":`...)
	b = appendJSONString(b, e.ContinuationSequenceNumber)
	b = append(b, `,"MillisBehindLatest":`...)
	b = strconv.AppendInt(b, e.MillisBehindLatest, 10)
	b = appendChildShardsJSON(b, e.ChildShards)
	return append(b, '}')
}
