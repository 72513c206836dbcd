package archive_test

import (
	"bytes"
	"io"
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

// TestExportCache: an ExportCache gives the export it built again while
// the store would build the same one, and builds anew (the same as
// NewExport) once it would not: a kept export of a range open past its
// end is also the export of its pinned range (same fragments, ETag and
// bytes); fragments stored outside a kept range keep it, inside it
// replace it; an event written replaces it; it expires after
// ExportCacheTTL; when retention trims its fragments a read of the kept
// export fails and the range is not found, never the old bytes.
func TestExportCache(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := datastreamstest.NewClock(t0.Add(time.Minute))
	core, m := fragmentstest.NewManager(t, t.TempDir(), clk, 64<<10)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(at time.Time) {
		t.Helper()
		p := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 10, GOP: 50}
		for _, e := range fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: p.Tracks()}, p.Units(at)) {
			if _, err := st.Append(e.Init, e.F); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(t0)
	const P = fragments.IndexProducerTime
	var c archive.ExportCache
	get := func(start, end time.Time) *archive.Export {
		t.Helper()
		x, err := c.Export(st, P, start, end)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	same := func(x *archive.Export, start, end time.Time) {
		t.Helper()
		fresh, err := archive.NewExport(st, P, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.ETag() != x.ETag() || fresh.Fragments != x.Fragments || !bytes.Equal(readExport(t, fresh), readExport(t, x)) {
			t.Fatalf("kept export (%d fragments, %s) is not NewExport's (%d, %s)", x.Fragments, x.ETag(), fresh.Fragments, fresh.ETag())
		}
	}

	open := get(t0, t0.Add(time.Hour))
	if again := get(t0, t0.Add(time.Hour)); again != open || open.Fragments != 5 {
		t.Fatalf("asked again: kept %v, %d fragments", again == open, open.Fragments)
	}
	ps, pe := open.Pinned()
	if x := get(ps, pe); x != open || c.Len() != 2 {
		t.Fatalf("pinned range [%v, %v]: kept %v, %d kept", ps, pe, x == open, c.Len())
	}
	same(open, ps, pe)

	// Fragments stored after the pinned range: the open range changes,
	// the pinned one does not.
	publish(t0.Add(30 * time.Minute))
	if x := get(t0, t0.Add(time.Hour)); x == open || x.Fragments != 10 {
		t.Fatalf("open range after new fragments: kept %v, %d fragments", x == open, x.Fragments)
	}
	pinned := get(ps, pe)
	if pinned != open {
		t.Fatal("pinned range rebuilt after fragments stored outside it")
	}
	same(pinned, ps, pe)

	// An event on the stream.
	evs, err := core.Stream("cam.events")
	if err != nil {
		t.Fatal(err)
	}
	putEvents(t, evs, []written{{typ: "motion", label: "gate", at: t0.Add(3 * time.Second), dur: 1, score: 1, box: [4]float64{0, 0, 1, 1}, attrs: `{}`}})
	withEvent := get(ps, pe)
	if withEvent == pinned || withEvent.Events != 1 || withEvent.ETag() == pinned.ETag() {
		t.Fatalf("after an event: kept %v, %d events", withEvent == pinned, withEvent.Events)
	}
	same(withEvent, ps, pe)

	// Expiry.
	c.SetClock(func() time.Time { return time.Now().Add(archive.ExportCacheTTL) })
	if x := get(ps, pe); x == withEvent {
		t.Fatal("kept past ExportCacheTTL")
	}
	c.SetClock(nil)

	// Retention trims the range's fragments.
	kept := get(ps, pe)
	if get(ps, pe) != kept {
		t.Fatal("not kept")
	}
	clk.Advance(2 * time.Hour)
	publish(t0.Add(3 * time.Hour))
	core.EnforceRetention()
	if _, err := io.ReadAll(kept.NewReader()); err == nil {
		t.Fatal("read the kept export of trimmed fragments without an error")
	}
	if x, err := c.Export(st, P, ps, pe); !isKind(err, fragments.KindNotFound) {
		t.Fatalf("trimmed range: %v, %v (kept: %v)", x, err, x == kept)
	}
}
