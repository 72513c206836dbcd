package media

import "testing"

func TestRegistryDroppedSurvivesUnpublish(t *testing.T) {
	r := &Registry{QueueSize: 4}
	h, err := r.Publish("cam", []Track{{ID: 0, Kind: Audio, Codec: "AAC", ClockRate: 48000}})
	if err != nil {
		t.Fatal(err)
	}
	stalled, err := h.NewReader() // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	for i := 0; i < 10; i++ {
		h.Publish(&AccessUnit{Track: 0, PTS: int64(i) * 1024, DTS: int64(i) * 1024, Key: true, Payload: [][]byte{{1}}})
	}
	if got := r.Dropped(); got != 1 {
		t.Fatalf("Dropped() = %d while published, want 1", got)
	}
	r.Unpublish("cam", h)
	if got := r.Dropped(); got != 1 {
		t.Fatalf("Dropped() = %d after unpublish, want 1", got)
	}
}
