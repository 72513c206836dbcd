package server_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestEventsBadInput writes a table of records to an event stream with
// the Go SDK's PutRecords (all in one call) and PutRecord: each event that
// breaks the schema gets its own InvalidArgumentException entry with a
// message naming what is wrong and is stored nothing, while the other
// records of the call are stored; records that are not events (not JSON,
// no type) are stored and delivered but not on the timeline.
func TestEventsBadInput(t *testing.T) {
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, time.Minute)
	if _, err := e.Server.Videos().CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	k := e.Kinesis()
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339Nano) }
	hugeAttrs := `{"blob":"` + strings.Repeat("x", 1000_000) + `"}`
	type row struct {
		name string
		data string
		// refused: a part of the error message (empty: stored).
		refused string
		// event: stored and on the timeline (else stored, not on it).
		event bool
	}
	rows := []row{
		{name: "a detection", data: `{"type":"detection","time":"` + at(0) + `","duration":0.8,"label":"person","score":0.91,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":7}}`, event: true},
		{name: "type is a number", data: `{"type":5}`, refused: "type must be a string (got a number)"},
		{name: "type is empty", data: `{"type":""}`, refused: "type must be 1 to 64 bytes long"},
		{name: "time is a number", data: `{"type":"d","time":1765000000}`, refused: "time must be an RFC 3339 string such as 2026-12-06T10:00:01.250Z (got a number)"},
		{name: "time is not RFC 3339", data: `{"type":"d","time":"yesterday"}`, refused: `time "yesterday" is not an RFC 3339 time`},
		{name: "time 2 h in the future", data: `{"type":"d","time":"` + at(2*time.Hour) + `"}`, refused: "is more than 1h0m0s after the arrival time"},
		{name: "time 11 years in the past", data: `{"type":"d","time":"` + at(-11*365*24*time.Hour) + `"}`, refused: "is more than 10 years before the arrival time"},
		{name: "time 30 min in the future", data: `{"type":"d","time":"` + at(30*time.Minute) + `"}`, event: true},
		{name: "time 9 years in the past", data: `{"type":"d","time":"` + at(-9*365*24*time.Hour) + `"}`, event: true},
		{name: "no time (the arrival)", data: `{"type":"door","label":"open"}`, event: true},
		{name: "a member of its own", data: `{"type":"plate","label":"B-XY 123","camera":"gate"}`, event: true},
		{name: "duration is a string", data: `{"type":"d","duration":"0.8"}`, refused: "duration must be a number of seconds (got a string)"},
		{name: "duration is negative", data: `{"type":"d","duration":-1}`, refused: "duration -1 is outside 0 to 86400 seconds"},
		{name: "label is a number", data: `{"type":"d","label":7}`, refused: "label must be a string (got a number)"},
		{name: "score is a string", data: `{"type":"d","score":"high"}`, refused: "score must be a number from 0 to 1 (got a string)"},
		{name: "score above 1", data: `{"type":"d","score":1.5}`, refused: "score 1.5 is outside 0 to 1"},
		{name: "score is 91 (percent)", data: `{"type":"d","score":91}`, refused: "score 91 is outside 0 to 1"},
		{name: "box is a string", data: `{"type":"d","box":"0,0,1,1"}`, refused: "box must be an array of four numbers [x, y, w, h], each 0 to 1 of the frame"},
		{name: "box of three", data: `{"type":"d","box":[0.1,0.1,0.5]}`, refused: "box must be an array of four numbers"},
		{name: "box member a string", data: `{"type":"d","box":[0.1,"0.1",0.5,0.5]}`, refused: "box[1] must be a number (got a string)"},
		{name: "box negative", data: `{"type":"d","box":[-0.1,0.1,0.5,0.5]}`, refused: "box[0] -0.1 is outside 0 to 1 (the box is relative to the frame)"},
		{name: "box in pixels", data: `{"type":"d","box":[10,20,300,400]}`, refused: "box[0] 10 is outside 0 to 1"},
		{name: "box beyond the frame", data: `{"type":"d","box":[0.8,0.1,0.5,0.2]}`, refused: "box [0.8, 0.1, 0.5, 0.2] extends beyond the frame (x+w and y+h must be at most 1)"},
		{name: "attributes an array", data: `{"type":"d","attributes":[1,2]}`, refused: "attributes must be a JSON object"},
		{name: "attributes of 1 MB", data: `{"type":"d","attributes":` + hugeAttrs + `}`, refused: fmt.Sprintf("attributes are %d bytes; the limit is 16384", len(hugeAttrs))},
		{name: "not JSON", data: "\x00\x01 binary \xff", event: false},
		{name: "JSON without type", data: `{"person":1}`, event: false},
		{name: "a JSON array", data: `[1,2,3]`, event: false},
		{name: "truncated JSON", data: `{"type":"detection","time":`, event: false},
		{name: "type fragment (Eddy's notices)", data: `{"type":"fragment","label":"person"}`, event: false},
	}
	byName := func(name string) row {
		for _, r := range rows {
			if r.name == name {
				return r
			}
		}
		t.Fatalf("no row %q", name)
		return row{}
	}
	in := &kinesis.PutRecordsInput{StreamName: aws.String("cam.events")}
	for i, r := range rows {
		in.Records = append(in.Records, ktypes.PutRecordsRequestEntry{Data: []byte(r.data), PartitionKey: aws.String(fmt.Sprint("p", i))})
	}
	if n := len(byName("attributes of 1 MB").data); n >= 1<<20 || n < 1000_000 {
		t.Fatalf("the 1 MB record is %d bytes", n)
	}
	out, err := k.PutRecords(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{} // sequence number → data
	var events []string           // sequence numbers of the events
	refused := 0
	for i, r := range rows {
		res := out.Records[i]
		t.Run(r.name, func(t *testing.T) {
			if r.refused != "" {
				if aws.ToString(res.ErrorCode) != "InvalidArgumentException" || !strings.Contains(aws.ToString(res.ErrorMessage), r.refused) ||
					!strings.HasPrefix(aws.ToString(res.ErrorMessage), "The event is invalid: ") || res.SequenceNumber != nil {
					t.Fatalf("got %s %q (sequence %v), want InvalidArgumentException %q", aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage), aws.ToString(res.SequenceNumber), r.refused)
				}
				t.Logf("%s: %s", aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage))
				refused++
				return
			}
			if res.ErrorCode != nil || res.SequenceNumber == nil {
				t.Fatalf("refused: %s %s", aws.ToString(res.ErrorCode), aws.ToString(res.ErrorMessage))
			}
			stored[*res.SequenceNumber] = r.data
			if r.event {
				events = append(events, *res.SequenceNumber)
			}
		})
	}
	// The stored records' sequence numbers rise in the order written, as
	// if the refused ones had not been in the call.
	var seqs []string
	for _, res := range out.Records {
		if res.SequenceNumber != nil {
			seqs = append(seqs, *res.SequenceNumber)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if a, b := seqs[i-1], seqs[i]; len(a) > len(b) || (len(a) == len(b) && a >= b) {
			t.Errorf("sequence numbers out of order: %s then %s", a, b)
		}
	}
	if int(aws.ToInt32(out.FailedRecordCount)) != refused {
		t.Errorf("FailedRecordCount %d, %d refused", aws.ToInt32(out.FailedRecordCount), refused)
	}

	// PutRecord: a refused event is the call's InvalidArgumentException.
	for _, r := range []row{byName("time 2 h in the future"), byName("box beyond the frame"), byName("attributes of 1 MB")} {
		_, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam.events"), PartitionKey: aws.String("one"), Data: []byte(r.data)})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgumentException" || !strings.Contains(ae.ErrorMessage(), r.refused) {
			t.Errorf("PutRecord %s: %v", r.name, err)
		}
	}
	one, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cam.events"), PartitionKey: aws.String("one"), Data: []byte(rows[0].data)})
	if err != nil {
		t.Fatal(err)
	}
	stored[*one.SequenceNumber], events = rows[0].data, append(events, *one.SequenceNumber)

	// A record over the Kinesis limit of 1 MiB fails the whole call (the
	// service's validation, before any record is looked at).
	big := `{"type":"d","attributes":{"blob":"` + strings.Repeat("x", 1<<20) + `"}}`
	_, err = k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("cam.events"), Records: []ktypes.PutRecordsRequestEntry{
		{Data: []byte(rows[0].data), PartitionKey: aws.String("a")}, {Data: []byte(big), PartitionKey: aws.String("b")}}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || !strings.Contains(ae.ErrorMessage(), "Member must have length less than or equal to 1048576") {
		t.Errorf("a record of %d bytes: %v", len(big), err)
	} else {
		t.Logf("a record of %d bytes: %s: %s", len(big), ae.ErrorCode(), ae.ErrorMessage())
	}

	// GetRecords: exactly the stored records, byte for byte.
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("cam.events"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for iter := it.ShardIterator; iter != nil; {
		res, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			got[*r.SequenceNumber] = string(r.Data)
		}
		if len(res.Records) == 0 {
			break
		}
		iter = res.NextShardIterator
	}
	if len(got) != len(stored) {
		t.Errorf("GetRecords returned %d records, %d were stored", len(got), len(stored))
	}
	for seq, d := range stored {
		if got[seq] != d {
			t.Errorf("record %s: GetRecords %q, written %q", seq, got[seq], d)
		}
	}

	// The timeline has the events, and only them.
	q := url.Values{"start": {now.Add(-12 * 365 * 24 * time.Hour).Format(time.RFC3339)}, "end": {now.Add(2 * time.Hour).Format(time.RFC3339)}}
	onTimeline, _ := eventPages(t, e.URL+"/api/v1/streams/cam", q, 1000)
	ids := idsOf(onTimeline)
	slices.Sort(ids)
	slices.Sort(events)
	if !slices.Equal(ids, events) {
		t.Errorf("timeline %v, events written %v", ids, events)
	}
}
