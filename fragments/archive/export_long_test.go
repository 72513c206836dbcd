package archive_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// exportStore records publications one after the other into a new
// stream: each is seconds of mediatest.Synth (2 s GOPs), starting at
// producer time at; every publication's media time starts at 0 again, as
// after a publisher restart.
func exportStore(t testing.TB, pubs []mediatest.Synth, at []time.Time) *fragments.Store {
	t.Helper()
	clk := datastreamstest.NewClock(at[len(at)-1].Add(time.Hour))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pubs {
		out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: p.Tracks()}, p.Units(at[i]))
		for _, e := range out {
			if _, err := st.Append(e.Init, e.F); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st
}

func readExport(t testing.TB, x *archive.Export) []byte {
	t.Helper()
	r := x.NewReader()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != x.Size() {
		t.Fatalf("read %d bytes, Size %d", len(b), x.Size())
	}
	return b
}

// TestExport: the export of two publications of the same codecs (the
// second's media time starting at 0 again) and a third of other codecs:
// it holds the first two (all their frames, decode times increasing
// across the restart, the duration their sum, as ffprobe reads it), ends
// before the third (Cut at its start), reads the same bytes by any
// seek-and-read as whole, has the same ETag built twice and another for
// a range one fragment shorter; a range with nothing recorded is
// KindNotFound.
func TestExport(t *testing.T) {
	mediatest.RequireTool(t, "ffprobe")
	av := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, BFrames: true, Seconds: 20, GOP: 50}
	vOnly := mediatest.Synth{Video: true, InBand: true, Seconds: 10, GOP: 50}
	t0 := time.Unix(1_700_000_000, 0)
	at := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
	st := exportStore(t, []mediatest.Synth{av, av, vOnly}, at)

	x, err := archive.NewExport(st, fragments.IndexProducerTime, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if x.Fragments != 20 || x.Duration != 40*time.Second || !x.Start.Equal(t0) || x.End.Sub(at[1].Add(20*time.Second)).Abs() > 40*time.Millisecond || !x.Cut.Equal(at[2]) {
		t.Fatalf("export: %d fragments, %v, %v – %v, cut at %v", x.Fragments, x.Duration, x.Start, x.End, x.Cut)
	}
	whole := readExport(t, x)
	probe := mediatest.FFprobeJSON(t, whole, "-show_format", "-show_packets", "-show_entries", "packet=stream_index,dts_time:format=duration")
	if d, _ := strconv.ParseFloat(probe["format"].(map[string]any)["duration"].(string), 64); math.Abs(d-40) > 0.1 {
		t.Errorf("ffprobe: %.3f s, want 40", d)
	}
	last := map[float64]float64{0: -1, 1: -1}
	video := 0
	for i, p := range probe["packets"].([]any) {
		pk := p.(map[string]any)
		s := pk["stream_index"].(float64)
		dts, _ := strconv.ParseFloat(pk["dts_time"].(string), 64)
		if dts <= last[s] {
			t.Fatalf("packet %d of stream %v: dts %.4f after %.4f", i, s, dts, last[s])
		}
		last[s] = dts
		if s == 0 {
			video++
		}
	}
	if video != 2*20*25 {
		t.Errorf("%d video frames, want %d", video, 2*20*25)
	}

	// Any range by seek and read: the same bytes.
	r := x.NewReader()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		from := rng.Int64N(x.Size())
		n := 1 + rng.Int64N(min(x.Size()-from, 300_000))
		if _, err := r.Seek(from, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, whole[from:from+n]) {
			t.Fatalf("bytes %d+%d: %v, equal %v", from, n, err, bytes.Equal(got, whole[from:from+n]))
		}
	}
	again, err := archive.NewExport(st, fragments.IndexProducerTime, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	shorter, err := archive.NewExport(st, fragments.IndexProducerTime, t0, at[1].Add(17*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if again.ETag() != x.ETag() || shorter.ETag() == x.ETag() || shorter.Fragments != 19 || !bytes.Equal(readExport(t, again), whole) {
		t.Errorf("ETags %s, again %s, one fragment shorter (%d) %s", x.ETag(), again.ETag(), shorter.Fragments, shorter.ETag())
	}

	// From the third publication on: its own export.
	third, err := archive.NewExport(st, fragments.IndexProducerTime, at[2], t0.Add(time.Hour))
	if err != nil || third.Fragments != 5 || !third.Cut.IsZero() {
		t.Fatalf("third: %+v, %v", third, err)
	}

	if _, err := archive.NewExport(st, fragments.IndexProducerTime, t0.Add(-time.Hour), t0.Add(-time.Minute)); !isKind(err, fragments.KindNotFound) {
		t.Errorf("empty range: %v", err)
	}
}

// TestExportTooLong: a range of more fragments than one export holds is
// refused (ErrExportTooLong), never cut.
func TestExportTooLong(t *testing.T) {
	defer archive.SetMaxExportFragments(10)()
	av := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 22, GOP: 50}
	t0 := time.Unix(1_700_000_000, 0)
	st := exportStore(t, []mediatest.Synth{av}, []time.Time{t0})
	if _, err := archive.NewExport(st, fragments.IndexProducerTime, t0, t0.Add(time.Hour)); !errors.Is(err, archive.ErrExportTooLong) {
		t.Fatalf("11 fragments, at most 10: %v", err)
	}
	x, err := archive.NewExport(st, fragments.IndexProducerTime, t0, t0.Add(19*time.Second))
	if err != nil || x.Fragments != 10 {
		t.Fatalf("10 fragments: %v, %v", x, err)
	}
}

// BenchmarkExport measures clip.mp4's cost: preparing the export of 30
// minutes of 2 s fragments (900) and reading all of it as an HTTP answer
// does (32 KiB reads). MB/s is the export's bytes read per second.
func BenchmarkExport(b *testing.B) {
	av := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 1800, GOP: 50}
	t0 := time.Unix(1_700_000_000, 0)
	st := exportStore(b, []mediatest.Synth{av}, []time.Time{t0})
	x, err := archive.NewExport(st, fragments.IndexProducerTime, t0, t0.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if x.Fragments != 900 {
		b.Fatalf("%d fragments", x.Fragments)
	}
	b.SetBytes(x.Size())
	b.ReportAllocs()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		x, err := archive.NewExport(st, fragments.IndexProducerTime, t0, t0.Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{x.NewReader()}, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(x.Size())/float64(x.Fragments), "bytes/fragment")
}

func isKind(err error, kind fragments.Kind) bool {
	var fe *fragments.Error
	return errors.As(err, &fe) && fe.Kind == kind
}
