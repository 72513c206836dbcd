package kdsapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// TestEventWriterKeepsSmallBuffers: after a large event (a catch-up of
// subscribeMaxBytes) a subscription keeps neither its payload buffer nor
// its encoder's buffer of that size, while small events reuse both; every
// event is written whole.
func TestEventWriterKeepsSmallBuffers(t *testing.T) {
	rec := httptest.NewRecorder()
	e := &eventWriter{w: rec, rc: http.NewResponseController(rec), cd: codecJSON, enc: eventstream.NewEncoder(),
		timeout: time.Second, end: time.Now().Add(time.Minute)}
	event := func(size int) *subscribeEvent {
		return &subscribeEvent{Records: []recordOut{{SequenceNumber: "1", Data: bytes.Repeat([]byte{7}, size), PartitionKey: "k"}},
			ContinuationSequenceNumber: "1"}
	}
	sizes := []int{1000, 1000, subscribeMaxBytes, 1000}
	var bufCaps []int
	var encs []*eventstream.Encoder
	for _, n := range sizes {
		if err := e.event("SubscribeToShardEvent", event(n)); err != nil {
			t.Fatal(err)
		}
		bufCaps, encs = append(bufCaps, cap(e.buf)), append(encs, e.enc)
	}
	for i, c := range bufCaps {
		if c > 256<<10 {
			t.Errorf("after event %d (%d bytes of data): a %d-byte payload buffer kept", i, sizes[i], c)
		}
	}
	if encs[1] != encs[0] || encs[3] != encs[2] {
		t.Error("the encoder is not reused after small events")
	}
	if encs[2] == encs[1] {
		t.Error("the encoder that wrote a large event is kept")
	}
	if bufCaps[1] == 0 || bufCaps[3] == 0 {
		t.Error("the payload buffer is not kept after small events")
	}
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(rec.Body.Bytes())
	for i, n := range sizes {
		msg, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var got struct{ Records []struct{ Data []byte } }
		if err := json.Unmarshal(msg.Payload, &got); err != nil || len(got.Records) != 1 || len(got.Records[0].Data) != n {
			t.Fatalf("event %d: payload %d bytes, %v", i, len(msg.Payload), err)
		}
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes after the events", r.Len())
	}
}
