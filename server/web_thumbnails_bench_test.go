package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// BenchmarkWebThumbnail measures GET /api/v1/streams/{name}/thumbnail on
// 8 s of the test clip (320x240 H.264, 25 fps): "miss" asks for a new
// image each time (another grid cell or width: an ffmpeg decode of the
// GOP up to the frame), "hit" for the same one (the cache); ns/op is one
// request's latency, one at a time.
func BenchmarkWebThumbnail(b *testing.B) {
	mediatest.RequireTool(b, "ffmpeg")
	e := servertest.Start(b)
	ctx := servertest.Context(b, 5*time.Minute)
	_, _, done := publish(ctx, e.RTSPURL("cam"), 8*time.Second, "tcp")
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	frags := listAllFragments(ctx, b, e, "cam")
	get := func(u string) {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %s", u, resp.Status)
		}
	}
	b.Run("miss", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			f := frags[i%(len(frags)-1)]
			cell := time.Duration(i/(len(frags)-1)%10) * 100 * time.Millisecond
			width := 160 + 2*(i/(10*(len(frags)-1)))
			get(thumbURL(e.URL, "cam", f.ProducerTimestamp.Add(cell), strconv.Itoa(width)))
		}
	})
	b.Run("hit", func(b *testing.B) {
		u := thumbURL(e.URL, "cam", frags[1].ProducerTimestamp.Add(time.Second), "160")
		get(u)
		for b.Loop() {
			get(u)
		}
	})
}
