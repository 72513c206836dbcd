package web

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// BenchmarkClipRange measures what a player's Range request of clip.mp4
// costs (a <video> asks for a few hundred kilobytes at a time): 256 KiB
// at offsets spread over a 30-minute export (900 synthetic 2 s H.264 +
// AAC fragments, 1,000 events), over loopback HTTP, with the export
// cache (a request after the first finds the export built) and without
// (every request lists the index, demuxes the first fragment and encodes
// the events again).
//
//	go test -run '^$' -bench BenchmarkClipRange -benchtime 200x ./web/
func BenchmarkClipRange(b *testing.B) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	clk := datastreamstest.NewClock(t0.Add(time.Hour))
	core, m := fragmentstest.NewManager(b, b.TempDir(), clk, 64<<20)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		b.Fatal(err)
	}
	st, err := m.Store("cam")
	if err != nil {
		b.Fatal(err)
	}
	synth := mediatest.Synth{Video: true, Audio: media.CodecAAC, InBand: true, Seconds: 1800, GOP: 50}
	for _, e := range fragmentstest.RunFragmenter(b, &fragmenter.Fragmenter{Tracks: synth.Tracks()}, synth.Units(t0)) {
		if _, err := st.Append(e.Init, e.F); err != nil {
			b.Fatal(err)
		}
	}
	es, err := core.Stream("cam.events")
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]datastreams.PutEntry, 0, 1000)
	for i := range 1000 {
		batch = append(batch, datastreams.PutEntry{Key: []byte("k"), Data: fmt.Appendf(nil,
			`{"type":"detection","time":%q,"duration":0.5,"label":"person","score":0.9,"box":[0.1,0.2,0.3,0.4],"attributes":{"track":%d}}`,
			t0.Add(time.Duration(i)*1800*time.Millisecond).Format(time.RFC3339Nano), i)})
	}
	if res, err := es.Put(batch); err != nil || res[0].Err != nil {
		b.Fatal(err, res[0].Err)
	}
	for _, cached := range []bool{true, false} {
		b.Run(map[bool]string{true: "cached", false: "uncached"}[cached], func(b *testing.B) {
			r := chi.NewRouter()
			(&Handler{Manager: m, Now: clk.Now, noClipCache: !cached}).Mount(r)
			srv := httptest.NewServer(r)
			defer srv.Close()
			u := srv.URL + "/api/v1/streams/cam/clip.mp4?start=" + t0.Format(time.RFC3339) + "&end=" + t0.Add(30*time.Minute-time.Second).Format(time.RFC3339)
			get := func(rng string) (*http.Response, int64) {
				req, _ := http.NewRequest("GET", u, nil)
				if rng != "" {
					req.Header.Set("Range", rng)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				n, err := io.Copy(io.Discard, resp.Body)
				if err != nil {
					b.Fatal(err)
				}
				return resp, n
			}
			head, _ := get("bytes=0-0")
			var size int64
			if _, err := fmt.Sscanf(head.Header.Get("Content-Range"), "bytes 0-0/%d", &size); err != nil || head.StatusCode != 206 {
				b.Fatalf("%d %q", head.StatusCode, head.Header.Get("Content-Range"))
			}
			const chunk = 256 << 10
			b.SetBytes(chunk)
			b.ReportAllocs()
			i := int64(0)
			for b.Loop() {
				from := (i * 7919 * chunk) % (size - chunk)
				i++
				resp, n := get(fmt.Sprintf("bytes=%d-%d", from, from+chunk-1))
				if resp.StatusCode != 206 || n != chunk {
					b.Fatalf("%d, %d bytes", resp.StatusCode, n)
				}
			}
		})
	}
}
