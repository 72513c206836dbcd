package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"cam1", true},
		{"front-door_2.hd", true},
		{"a", true},
		{"..a", true},
		{strings.Repeat("x", 256), true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"cam%2F", false},
		{"caméra", false},
		{strings.Repeat("x", 257), false},
		{"cam.events", false},
		{".events", false},
		{"cam.events2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := (&Registry{CheckName: reserveEvents}).ValidateName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateName(%q) = %v", tc.name, err)
			}
			if err != nil && !errors.Is(err, ErrInvalidName) {
				t.Fatalf("error %v is not ErrInvalidName", err)
			}
		})
	}
}

// reserveEvents is a CheckName that reserves the suffix ".events", as
// the fragment store does for the event streams of video streams.
func reserveEvents(name string) error {
	if strings.HasSuffix(name, ".events") {
		return fmt.Errorf("%w %q: the suffix is reserved", ErrInvalidName, name)
	}
	return nil
}

var testTracks = []Track{{ID: 0, Kind: Video, Codec: CodecH264, ClockRate: 90000}}

func TestRegistryPublishIsExclusive(t *testing.T) {
	var events []string
	reg := &Registry{
		Logger:      testLogger(),
		OnPublish:   func(name string, h *Hub) { events = append(events, "+"+name) },
		OnUnpublish: func(name string, h *Hub) { events = append(events, "-"+name) },
		CheckName:   reserveEvents,
	}
	h1, err := reg.Publish("cam", testTracks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Publish("cam", testTracks); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("second publisher: %v", err)
	}
	if _, err := reg.Publish("cam.events", testTracks); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("reserved name: %v", err)
	}
	if _, err := reg.Publish("x", nil); err == nil {
		t.Fatal("a publication without tracks was accepted")
	}
	if h, ok := reg.Hub("cam"); !ok || h != h1 {
		t.Fatal("Hub does not return the publication")
	}
	r, err := h1.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	reg.Unpublish("cam", h1)
	if _, err := r.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("reader after Unpublish: %v", err)
	}
	h2, err := reg.Publish("cam", testTracks)
	if err != nil {
		t.Fatal(err)
	}
	reg.Unpublish("cam", h1) // stale: no effect on the new publication
	if h, ok := reg.Hub("cam"); !ok || h != h2 {
		t.Fatal("a stale Unpublish ended the new publication")
	}
	if got := fmt.Sprint(events); got != "[+cam -cam +cam]" {
		t.Errorf("callbacks: %s", got)
	}
	if got := reg.Names(); !slices.Equal(got, []string{"cam"}) {
		t.Errorf("Names = %v", got)
	}
}

func TestRegistryAdmit(t *testing.T) {
	admitting, release := make(chan struct{}), make(chan struct{})
	reg := &Registry{Logger: testLogger(), Admit: func(name string, tracks []Track) error {
		switch name {
		case "unknown":
			return fmt.Errorf("stream %q: %w", name, ErrNotFound)
		case "slow":
			close(admitting)
			<-release
		}
		return nil
	}}
	if _, err := reg.Publish("unknown", testTracks); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused by Admit: %v", err)
	}
	if _, ok := reg.Hub("unknown"); ok {
		t.Fatal("refused publication is visible")
	}

	// While Admit runs, the name is taken.
	var wg sync.WaitGroup
	wg.Add(1)
	var slowErr error
	go func() {
		defer wg.Done()
		_, slowErr = reg.Publish("slow", testTracks)
	}()
	<-admitting
	if _, err := reg.Publish("slow", testTracks); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("publisher during Admit: %v", err)
	}
	close(release)
	wg.Wait()
	if slowErr != nil {
		t.Fatal(slowErr)
	}
}

func TestRegistryRead(t *testing.T) {
	reg := &Registry{Logger: testLogger()}
	ctx := context.Background()
	if _, err := reg.Read(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read without publication: %v", err)
	}
	if _, err := reg.Read(ctx, "../etc"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Read of a bad name: %v", err)
	}
	h, err := reg.Publish("cam", testTracks)
	if err != nil {
		t.Fatal(err)
	}
	v, err := reg.Read(ctx, "cam")
	if err != nil {
		t.Fatal(err)
	}
	if v.Hub != h || len(v.Tracks) != 1 {
		t.Fatalf("viewer %+v", v)
	}
	h.Publish(&AccessUnit{Track: 0, Key: true, PTS: 1})
	if au, err := v.Read(ctx); err != nil || au.PTS != 1 {
		t.Fatalf("Read: %v %v", au, err)
	}
	v.Close()
	if h.Readers() != 0 {
		t.Error("viewer still attached after Close")
	}
}

func TestRegistryClose(t *testing.T) {
	var ended []string
	reg := &Registry{Logger: testLogger(), OnUnpublish: func(name string, h *Hub) { ended = append(ended, name) }}
	h, err := reg.Publish("cam", testTracks)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := h.NewReader()
	reg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.Read(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("reader after Close: %v", err)
	}
	if _, err := reg.Publish("other", testTracks); !errors.Is(err, ErrRegistryClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	reg.Unpublish("cam", h) // late publisher leaving: no second callback
	if fmt.Sprint(ended) != "[cam]" {
		t.Errorf("OnUnpublish calls: %v", ended)
	}
}

func testLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestRegistryEnd: the server ends a publication: its readers get io.EOF,
// its publisher sees Ended with the reason, and the name is free.
func TestRegistryEnd(t *testing.T) {
	r := &Registry{}
	h, err := r.Publish("cam1", []Track{{ID: 0, Kind: Video, Codec: CodecH264, ClockRate: 90000}})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := h.NewReader()
	if err != nil {
		t.Fatal(err)
	}
	reason := errors.New("stream deleted")
	if !r.End("cam1", reason) {
		t.Fatal("End found no publication")
	}
	select {
	case <-h.Ended():
	default:
		t.Fatal("Ended not closed")
	}
	if !errors.Is(h.EndErr(), reason) {
		t.Fatalf("EndErr = %v", h.EndErr())
	}
	if _, err := rd.Read(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("reader: %v, want EOF", err)
	}
	if _, ok := r.Hub("cam1"); ok {
		t.Fatal("the name is still published")
	}
	if r.End("cam1", reason) {
		t.Fatal("End of nothing reported a publication")
	}
	if _, err := r.Publish("cam1", []Track{{ID: 0, Kind: Video, Codec: CodecH264, ClockRate: 90000}}); err != nil {
		t.Fatalf("publishing again: %v", err)
	}
}
