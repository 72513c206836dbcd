package server_test

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestGetMediaPutMediaTags: the fragments of a PutMedia upload, read with
// GetMedia while they are uploaded (NOW) and afterwards (EARLIEST), carry
// their producer's tags before their Cluster, with the same names and
// values in upload order, every one of them live too (PutMedia writes a
// fragment's metadata event before it stores the fragment), and no
// EDDY_EVENT tag repeats the metadata event.
func TestGetMediaPutMediaTags(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	const stream = "pm-gm"
	createVideoStream(ctx, t, e.KinesisVideo(), stream)
	src := clipFragments(t, 12)
	for i := range src {
		src[i] = cloneFragment(src[i])
		src[i].PreTags = []mkv.Tag{{Name: "frag", Value: fmt.Sprint(i)}, {Name: "site", Value: "door <1>"}}
	}
	live := postKVSRaw(ctx, t, e.URL+"/getMedia", `{"StreamName":"`+stream+`","StartSelector":{"StartSelectorType":"NOW"}}`)
	defer live.Body.Close()

	// The upload, a fragment at a time.
	pr, pw := io.Pipe()
	go func() {
		for _, f := range src {
			if err := mkv.WriteFragment(pw, f); err != nil {
				pw.CloseWithError(err)
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		pw.Close()
	}()
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE", start: unixSeconds(base)}, pr)
	if err != nil || s.Resp.StatusCode != 200 {
		t.Fatalf("PutMedia: %v", err)
	}
	check := func(what string, a *gmAnswer) {
		t.Helper()
		if len(a.frags) != len(src) {
			t.Fatalf("%s: %d fragments, want %d", what, len(a.frags), len(src))
		}
		for i, f := range a.frags {
			// After the three AWS_KINESISVIDEO_ tags: the user tags, and no
			// event (nothing but the metadata was written to the timeline).
			want := fmt.Sprintf("[{frag %d} {site door <1>}]", i)
			if got := fmt.Sprint(f.pre[3:]); got != want {
				t.Errorf("%s: fragment %d (%s) has tags %s after the KVS ones, want %s", what, i, f.number, got, want)
			}
		}
	}
	a, err := readGetMedia(live.Body, len(src))
	if err != nil {
		t.Fatal(err)
	}
	check("GetMedia NOW", a)
	s.Wait(t, 30*time.Second)

	archived := postKVSRaw(ctx, t, e.URL+"/getMedia", `{"StreamName":"`+stream+`","StartSelector":{"StartSelectorType":"EARLIEST"}}`)
	defer archived.Body.Close()
	a, err = readGetMedia(archived.Body, len(src))
	if err != nil {
		t.Fatal(err)
	}
	check("GetMedia EARLIEST", a)
}
