package logstoretest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// NewClock returns a clock for rolling and retention, at the suite's
// fixed start time.
func NewClock() *datastreamstest.Clock {
	return datastreamstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// Payload is the data of record seq: n bytes that name it.
func Payload(seq uint64, n int) []byte {
	b := bytes.Repeat([]byte{byte(seq)}, n)
	copy(b, fmt.Sprintf("rec-%d|", seq))
	return b
}

// AppendN appends n records with consecutive sequences, one commit per
// batch of size batch, each at the clock's time; the clock advances by step
// per batch.
func AppendN(t *testing.T, l logstore.Log, clk *datastreamstest.Clock, n, batch, size int, step time.Duration) {
	t.Helper()
	_, next := l.Bounds()
	for done := 0; done < n; done += batch {
		var recs []logstore.Record
		for i := 0; i < batch && done+i < n; i++ {
			s := next + uint64(done+i)
			recs = append(recs, logstore.Record{Seq: s, Time: clk.Now().UnixNano(), Key: []byte(fmt.Sprint("k", s)), Data: Payload(s, size)})
		}
		if err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(true); err != nil {
			t.Fatal(err)
		}
		clk.Advance(step)
	}
}

// CheckRecords fails t unless recs are the records AppendN wrote with
// data size size, consecutive from from.
func CheckRecords(t *testing.T, recs []logstore.Record, from uint64, size int) {
	t.Helper()
	for i, r := range recs {
		want := from + uint64(i)
		if r.Seq != want {
			t.Fatalf("record %d: seq %d, want %d", i, r.Seq, want)
		}
		if !bytes.Equal(r.Data, Payload(want, size)) || string(r.Key) != fmt.Sprint("k", want) {
			t.Fatalf("record %d (seq %d): wrong contents", i, r.Seq)
		}
	}
}
