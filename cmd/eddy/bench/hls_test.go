package bench

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestBenchHLS runs `eddy bench hls` briefly (1 publisher, 5 readers, 4 s
// windows) against a server binary it starts as a child: a functional test
// of the bench code and of LIVE HLS keeping up, not a performance assertion.
func TestBenchHLS(t *testing.T) {
	res := runShortHLSBench(t, false)
	if res.Listing.Samples < 2 || res.Listing.AfterKeyP50MS < res.Listing.AfterCloseP50MS {
		t.Errorf("listing latency: %d samples, after close p50 %.1f ms, after first keyframe p50 %.1f ms; want ≥ 2 samples, and the first keyframe before the close",
			res.Listing.Samples, res.Listing.AfterCloseP50MS, res.Listing.AfterKeyP50MS)
	}
	if res.ReadersStarted != 5 || res.ReadersFellBehind != 0 || res.RequestErrors != 0 {
		t.Errorf("%d readers started, %d fell behind, %d request errors; want 5, 0, 0: %q",
			res.ReadersStarted, res.ReadersFellBehind, res.RequestErrors, res.ReaderProblems)
	}
	if res.SegmentRequests < 5 || res.PlaylistRequests < 5 || res.BytesServed == 0 {
		t.Errorf("%d segment and %d playlist requests, %d bytes in the window; want some of each",
			res.SegmentRequests, res.PlaylistRequests, res.BytesServed)
	}
	if res.ServerCPUPerReaderMinRaw == nil || res.ServerCPUPerReaderMinNet == nil {
		t.Error("server CPU per reader-minute not measured")
	}
}

// runShortHLSBench runs the bench for the tests: 5 readers, 4 s windows,
// the testdata clip, the test binary as the server.
func runShortHLSBench(t *testing.T, ll bool) *hlsResults {
	t.Helper()
	cfg := defaultHLSBenchConfig()
	cfg.LL = ll
	cfg.Server, cfg.Clip, cfg.Log = eddyBinary(t, "~15 s"), testClip, testLog{t}
	cfg.watcherExe = cfg.Server
	cfg.Readers, cfg.Duration, cfg.Warmup, cfg.Stagger, cfg.Progress = 5, 4*time.Second, 2*time.Second, time.Second, 0
	return runTestBench(t, 2*time.Minute, func(ctx context.Context) (*hlsResults, error) { return runHLSBench(ctx, cfg) })
}

func TestBenchHLSParsePlaylist(t *testing.T) {
	base, _ := url.Parse("http://h/hls/v1/getHLSMediaPlaylist.m3u8?SessionToken=x")
	pl, err := parseHLSMediaPlaylist(base, []byte("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n"+
		"#EXT-X-MAP:URI=\"getMP4InitFragment.mp4?SessionToken=x&InitId=ab\"\n"+
		"#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.678Z\n#EXTINF:2.000,\ngetMP4MediaFragment.mp4?SessionToken=x&FragmentNumber=a\n"+
		"#EXT-X-DISCONTINUITY\n#EXTINF:1.960,\ngetMP4MediaFragment.mp4?SessionToken=x&FragmentNumber=b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pl.target != 2*time.Second || pl.seq != 7 || len(pl.segs) != 2 {
		t.Fatalf("target %v, sequence %d, %d segments; want 2s, 7, 2", pl.target, pl.seq, len(pl.segs))
	}
	s0, s1 := pl.segs[0], pl.segs[1]
	if s0.seq != 7 || s1.seq != 8 || s1.dur != 1960*time.Millisecond || s1.number != "b" {
		t.Errorf("segments %+v %+v", s0, s1)
	}
	if s0.initURI != "http://h/hls/v1/getMP4InitFragment.mp4?SessionToken=x&InitId=ab" || s1.initURI != s0.initURI {
		t.Errorf("init URI %q", s0.initURI)
	}
	if want := time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC).UnixNano(); s0.pdt != want || s1.pdt != 0 {
		t.Errorf("program date-times %d, %d; want %d, 0", s0.pdt, s1.pdt, want)
	}
}

// TestBenchHLSLL runs `eddy bench hls --ll` briefly: the part watcher
// (a child process) times parts and 5 low-latency readers load every
// part once.
func TestBenchHLSLL(t *testing.T) {
	res := runShortHLSBench(t, true)
	p := res.Parts
	if p == nil || p.Samples < 10 || p.PartTargetMS != 200 || p.ExistingSamples == 0 || p.Errors != 0 {
		t.Fatalf("part watcher: %+v; want ≥ 10 parts timed, a 200 ms target, existing-part requests, no errors", p)
	}
	if !res.WatcherOwnProcess {
		t.Error("the part watcher did not run in its own process (the default)")
	}
	// A part is complete only when its last frame arrived: listing it
	// sooner than its duration would mean the dates or parts are wrong.
	if p.OverDurP50MS < 0 || p.AfterFirstP50MS < p.PartTargetMS/2 {
		t.Errorf("parts listed %.1f ms after their first frame (%.1f ms after their duration): before they could be complete", p.AfterFirstP50MS, p.OverDurP50MS)
	}
	if res.ReadersStarted != 5 || res.ReadersFellBehind != 0 || res.RequestErrors != 0 || res.PartRequests < 20 || res.SegmentRequests != 0 {
		t.Errorf("%d readers started, %d fell behind, %d request errors, %d parts, %d segments loaded; want 5, 0, 0, ≥ 20, 0: %q",
			res.ReadersStarted, res.ReadersFellBehind, res.RequestErrors, res.PartRequests, res.SegmentRequests, res.ReaderProblems)
	}
}

func TestBenchHLSParseLLPlaylist(t *testing.T) {
	base, _ := url.Parse("http://h/hls/v1/getHLSMediaPlaylist.m3u8?SessionToken=x")
	pl, err := parseHLSMediaPlaylist(base, []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n"+
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n#EXT-X-PART-INF:PART-TARGET=0.200\n#EXT-X-MEDIA-SEQUENCE:3\n"+
		"#EXT-X-MAP:URI=\"i?InitId=a\"\n#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.000Z\n"+
		"#EXT-X-PART:DURATION=0.200,URI=\"p?PartNumber=10\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.100,URI=\"p?PartNumber=11\"\n"+
		"#EXTINF:0.300,\nf?FragmentNumber=3\n#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.300Z\n"+
		"#EXT-X-PART:DURATION=0.200,URI=\"p?PartNumber=12\",INDEPENDENT=YES\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p?PartNumber=13\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pl.partTarget != 200*time.Millisecond || len(pl.segs) != 1 || len(pl.segs[0].parts) != 2 || len(pl.open) != 1 || pl.hint != "http://h/hls/v1/p?PartNumber=13" {
		t.Fatalf("parsed %+v", pl)
	}
	if msn, part := pl.next(); msn != 4 || part != 1 {
		t.Errorf("next = %d/%d, want 4/1", msn, part)
	}
	parts := allParts(pl)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	want := []placedPart{
		{msn: 3, index: 0, first: t0},
		{msn: 3, index: 1, first: t0 + int64(200*time.Millisecond)},
		{msn: 4, index: 0, first: t0 + int64(300*time.Millisecond)},
	}
	if len(parts) != len(want) {
		t.Fatalf("%d parts", len(parts))
	}
	for i, w := range want {
		p := parts[i]
		if p.msn != w.msn || p.index != w.index || p.first != w.first || p.part.number != uint64(10+i) || p.part.independent != (i != 1) {
			t.Errorf("part %d: %+v", i, p)
		}
	}
}

// FuzzHLSResolve: the playlist parser's URI resolution and PartNumber
// look-up agree with net/url's.
func FuzzHLSResolve(f *testing.F) {
	for _, c := range [][2]string{
		{"http://127.0.0.1:8080/hls/v1/getHLSMediaPlaylist.m3u8?SessionToken=x", "getMP4MediaPart.mp4?SessionToken=ab%2Bc&PartNumber=1234"},
		{"http://h/hls/v1/getHLSMediaPlaylist.m3u8", "getMP4MediaPart.mp4?PartNumber=7&SessionToken=x"},
		{"http://h/a/./b/c.m3u8", "x.mp4?PartNumber=1"},
		{"http://h/a/b/c.m3u8", "../x.mp4?PartNumber=2"},
		{"http://h/a/b/c.m3u8", "/x.mp4?PartNumber=%33"},
		{"http://h", "x.mp4?"},
		{"https://u@h/a/", "x y.mp4?q=1#f"},
		{"http://h/a/", "..?PartNumber=3&PartNumber=4"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, base, ref string) {
		b, err := url.Parse(base)
		if err != nil {
			return
		}
		want := ref
		u, err := url.Parse(ref)
		if err == nil {
			want = b.ResolveReference(u).String()
		}
		if got := newResolver(b).resolve(ref); got != want {
			t.Fatalf("resolve(%q, %q) = %q, want %q", base, ref, got, want)
		}
		var wantN uint64
		if err == nil {
			wantN, _ = strconv.ParseUint(u.Query().Get("PartNumber"), 10, 64)
		}
		if got := queryUint(ref, "PartNumber"); got != wantN {
			t.Fatalf("queryUint(%q) = %d, want %d", ref, got, wantN)
		}
	})
}
