package web

import (
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// TestClipCodecChange: a range over two publications of different codecs
// (H.264 + AAC, then H.264 alone) gets the first one only, whole: the file
// name ends where its last fragment ends, and Eddy-Clip-Cut says where the
// rest starts; asked from there, the rest comes without the header.
func TestClipCodecChange(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	clk := datastreamstest.NewClock(t1.Add(time.Hour))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 1<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		synth mediatest.Synth
		at    time.Time
	}{
		{mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 10, GOP: 50}, t0},
		{mediatest.Synth{Video: true, InBand: true, Seconds: 6, GOP: 50}, t1},
	} {
		for _, e := range fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: p.synth.Tracks()}, p.synth.Units(p.at)) {
			if _, err := st.Append(e.Init, e.F); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := chi.NewRouter()
	(&Handler{Manager: m, Now: func() time.Time { return t1.Add(time.Hour) }}).Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()

	get := func(from, to time.Time) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/v1/streams/cam/clip.mp4?start=" + from.Format(time.RFC3339) + "&end=" + to.Format(time.RFC3339))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	filename := func(resp *http.Response) string {
		_, p, _ := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		return p["filename"]
	}
	resp, body := get(t0, t1.Add(time.Hour))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
		filename(resp) != "cam-20261206T100000Z-20261206T100010Z.mp4" || resp.Header.Get("Eddy-Clip-Cut") != t1.Format(time.RFC3339Nano) {
		t.Fatalf("across the change: %d, %d bytes (Content-Length %s), file %q, Eddy-Clip-Cut %q",
			resp.StatusCode, len(body), resp.Header.Get("Content-Length"), filename(resp), resp.Header.Get("Eddy-Clip-Cut"))
	}
	resp, body = get(t1, t1.Add(time.Hour))
	if resp.StatusCode != 200 || len(body) == 0 || filename(resp) != "cam-20261206T100100Z-20261206T100106Z.mp4" || resp.Header.Get("Eddy-Clip-Cut") != "" {
		t.Fatalf("after the change: %d, %d bytes, file %q, Eddy-Clip-Cut %q", resp.StatusCode, len(body), filename(resp), resp.Header.Get("Eddy-Clip-Cut"))
	}
}
