package server_test

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// storeFragments creates stream name and stores n 2-second fragments of
// real CMAF (the fragmenter's output for a synthetic H.264+AAC
// publication), the last one ending now. It returns the first fragment's
// server time.
func storeFragments(t testing.TB, srv *server.Server, name string, n int) time.Time {
	t.Helper()
	out := fragmentstest.RunFragmenter(t, &fragmenter.Fragmenter{Tracks: fragmentstest.Tracks()},
		fragmentstest.Synth(4, 50, time.Unix(1_800_000_000, 0)))
	if len(out) == 0 {
		t.Fatal("the fragmenter emitted nothing")
	}
	if _, err := srv.Videos().CreateStream(name, fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	st, err := srv.Videos().Store(name)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Now().Add(-time.Duration(n) * 2 * time.Second)
	for i := range n {
		at := first.Add(time.Duration(i) * 2 * time.Second).UnixNano()
		src := out[i%len(out)]
		f := &fragments.Fragment{ServerTime: at, ProducerTime: at, Duration: int64(2 * time.Second), Keyframe: true,
			InitID: src.Init.ID, Media: src.F.Media}
		if _, err := st.Append(src.Init, f); err != nil {
			t.Fatal(err)
		}
	}
	return first
}

// playlistTimes is what one restart measured.
type playlistTimes struct {
	live, onDemand time.Duration // the media playlist request of each session
	reads          int64         // fragment records read from the start to the last playlist
}

// playlistsAfterStart starts a server on cfg's data and requests a LIVE and
// an ON_DEMAND session's master and media playlists at once, timing the
// media playlist requests and counting fragment reads.
func playlistsAfterStart(t testing.TB, cfg server.Config, stream string, from time.Time) playlistTimes {
	t.Helper()
	e := servertest.StartConfig(t, cfg)
	defer e.Server.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	am := e.ArchivedMedia()
	var pt playlistTimes
	for _, mode := range []amtypes.HLSPlaybackMode{amtypes.HLSPlaybackModeLive, amtypes.HLSPlaybackModeOnDemand} {
		in := &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String(stream), PlaybackMode: mode}
		if mode == amtypes.HLSPlaybackModeOnDemand {
			in.HLSFragmentSelector = &amtypes.HLSFragmentSelector{FragmentSelectorType: amtypes.HLSFragmentSelectorTypeServerTimestamp,
				TimestampRange: &amtypes.HLSTimestampRange{StartTimestamp: aws.Time(from), EndTimestamp: aws.Time(from.Add(23 * time.Hour))}}
		}
		sess, err := am.GetHLSStreamingSessionURL(ctx, in)
		if err != nil {
			t.Fatalf("%s session: %v", mode, err)
		}
		master := getOK(t, *sess.HLSStreamingSessionURL)
		media := playlistURIs(*sess.HLSStreamingSessionURL, master)[0]
		start := time.Now()
		body := getOK(t, media)
		took := time.Since(start)
		if n := strings.Count(body, "#EXTINF"); n < 5 {
			t.Fatalf("%s media playlist lists %d segments:\n%s", mode, n, body)
		}
		if mode == amtypes.HLSPlaybackModeLive {
			pt.live = took
		} else {
			pt.onDemand = took
		}
	}
	pt.reads = e.Server.Videos().MediaReads()
	return pt
}

func getOK(t testing.TB, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", u, resp.StatusCode, err, b)
	}
	return string(b)
}

// fragmentStore starts a server with interval sync (the stores are filled
// fast; playlists do not depend on the sync policy), stores n fragments
// and stops it, leaving the data for restarts.
func fragmentStore(t testing.TB, n int) (server.Config, time.Time) {
	t.Helper()
	cfg := servertest.Config(t)
	cfg.Storage.Sync = "interval"
	e := servertest.StartConfig(t, cfg)
	from := storeFragments(t, e.Server, "cam", n)
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}
	return cfg, from
}

// TestPlaylistsAfterRestartReadNoMedia: right after a restart, LIVE and
// ON_DEMAND playlists are rendered from the index alone — not one fragment
// is read — while a segment request does read (the count is real).
func TestPlaylistsAfterRestartReadNoMedia(t *testing.T) {
	cfg, from := fragmentStore(t, 2000)
	pt := playlistsAfterStart(t, cfg, "cam", from)
	if pt.reads != 0 {
		t.Fatalf("%d fragment records read to answer two sessions' playlists after a restart, want 0", pt.reads)
	}
	e := servertest.StartConfig(t, cfg)
	st, _ := e.Server.Videos().Store("cam")
	last, _ := st.Last()
	if _, err := st.Read(last.Seq); err != nil || e.Server.Videos().MediaReads() != 1 {
		t.Fatalf("a fragment read counted %d (%v), want 1", e.Server.Videos().MediaReads(), err)
	}
}

// BenchmarkPlaylistAfterRestart measures a LIVE and an ON_DEMAND media
// playlist request right after a restart of a server holding 10,000
// fragments: each iteration restarts the server, opens both sessions and
// times their first media playlist request. It reports the p50 and p99 of
// each and the fragment records read (target: p99 ≤ 5 ms, 0 reads).
//
//	go test -run '^$' -bench BenchmarkPlaylistAfterRestart -benchtime 100x ./server/
func BenchmarkPlaylistAfterRestart(b *testing.B) {
	cfg, from := fragmentStore(b, 10_000)
	var live, onDemand []time.Duration
	var reads int64
	b.ResetTimer()
	for range b.N {
		pt := playlistsAfterStart(b, cfg, "cam", from)
		live, onDemand = append(live, pt.live), append(onDemand, pt.onDemand)
		reads += pt.reads
	}
	b.StopTimer()
	for name, ds := range map[string][]time.Duration{"live": live, "ondemand": onDemand} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(ms(ds[len(ds)/2]), name+"-p50-ms")
		b.ReportMetric(ms(ds[min(len(ds)-1, len(ds)*99/100)]), name+"-p99-ms")
	}
	b.ReportMetric(float64(reads), "fragment-reads")
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
