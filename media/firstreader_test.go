package media

import (
	"context"
	"testing"
)

// TestFirstReader: a reader attached by NewFirstReader before anything
// was published gets every unit from the first (audio before the first
// keyframe included); NewReader's waits for the keyframe, and once units
// were published NewFirstReader is NewReader.
func TestFirstReader(t *testing.T) {
	h := videoAudioHub(16)
	first, err := h.NewFirstReader()
	if err != nil {
		t.Fatal(err)
	}
	plain, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(&AccessUnit{Track: 1, PTS: 1})
	h.Publish(&AccessUnit{Track: 0, PTS: 2, Key: true})
	late, err := h.NewFirstReader()
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(&AccessUnit{Track: 1, PTS: 3})
	h.Close()
	read := func(r *Reader) []int64 {
		var pts []int64
		for {
			au, err := r.Read(context.Background())
			if err != nil {
				return pts
			}
			pts = append(pts, au.PTS)
		}
	}
	if got := read(first); len(got) != 3 || got[0] != 1 {
		t.Errorf("first reader got PTS %v, want [1 2 3]", got)
	}
	if got := read(plain); len(got) != 2 || got[0] != 2 {
		t.Errorf("plain reader got PTS %v, want [2 3]", got)
	}
	if got := read(late); len(got) != 2 || got[0] != 2 {
		t.Errorf("late first reader got PTS %v, want [2 3] (the GOP replay)", got)
	}
}
