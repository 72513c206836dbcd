package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// llPlaylist is an LL-HLS media playlist, parsed as a client reads it.
type llPlaylist struct {
	raw      string
	msn      uint64 // EXT-X-MEDIA-SEQUENCE
	segments []llSegment
	open     []llPart // parts of the segment in progress
	hint     string   // EXT-X-PRELOAD-HINT URI
	maps     []string
}

type llSegment struct {
	msn   uint64
	uri   string
	dur   float64
	parts []llPart
}

type llPart struct {
	uri         string
	dur         float64
	independent bool
}

func attr(line, name string) string {
	i := strings.Index(line, name+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(name)+1:]
	if strings.HasPrefix(v, `"`) {
		return v[1 : 1+strings.Index(v[1:], `"`)]
	}
	if j := strings.IndexByte(v, ','); j >= 0 {
		v = v[:j]
	}
	return v
}

func parseLL(t *testing.T, body string) *llPlaylist {
	t.Helper()
	p := &llPlaylist{raw: body}
	var parts []llPart
	var dur float64
	for _, l := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			p.msn, _ = strconv.ParseUint(strings.TrimPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
		case strings.HasPrefix(l, "#EXT-X-MAP:"):
			p.maps = append(p.maps, attr(l, "URI"))
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			d, _ := strconv.ParseFloat(attr(l, "DURATION"), 64)
			parts = append(parts, llPart{uri: attr(l, "URI"), dur: d, independent: attr(l, "INDEPENDENT") == "YES"})
		case strings.HasPrefix(l, "#EXT-X-PRELOAD-HINT:"):
			p.hint = attr(l, "URI")
		case strings.HasPrefix(l, "#EXTINF:"):
			dur, _ = strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(l, "#EXTINF:"), ","), 64)
		case l != "" && !strings.HasPrefix(l, "#"):
			p.segments = append(p.segments, llSegment{msn: p.msn + uint64(len(p.segments)), uri: l, dur: dur, parts: parts})
			parts = nil
		}
	}
	p.open = parts
	return p
}

// next is the (msn, part) a client asks for after this playlist.
func (p *llPlaylist) next() (uint64, int) {
	msn := p.msn + uint64(len(p.segments))
	if len(p.open) > 0 {
		return msn, len(p.open)
	}
	return msn, 0
}

func fetch(t *testing.T, u string) (int, []byte, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, time.Since(start)
}

func TestLLHLS(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg", "ffprobe")
	t.Parallel()
	e := servertest.Start(t)
	ctx := servertest.Context(t, 2*time.Minute)
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	_, _, done := publish(pubCtx, e.RTSPURL("cam"), 0, "tcp")
	am := e.ArchivedMedia()
	var sess *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sess, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam"),
			DiscontinuityMode: types.HLSDiscontinuityModeOnDiscontinuity}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _, master := httpGet(t, *sess.HLSStreamingSessionURL)
	mediaURL := playlistURIs(*sess.HLSStreamingSessionURL, master)[0]
	base := mediaURL[:strings.LastIndex(mediaURL, "/")+1]

	// Wait for a playlist with a complete segment and parts of the next.
	var pl *llPlaylist
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, _, body := httpGet(t, mediaURL)
		if pl = parseLL(t, body); len(pl.segments) >= 2 && len(pl.open) > 0 {
			break
		}
	}
	t.Logf("LL-HLS playlist:\n%s", pl.raw)
	for _, want := range []string{"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600\n", "#EXT-X-PART-INF:PART-TARGET=0.200\n"} {
		if !strings.Contains(pl.raw, want) {
			t.Errorf("playlist lacks %q", want)
		}
	}
	if len(pl.segments) < 2 || len(pl.open) == 0 || pl.hint == "" {
		t.Fatalf("no complete segments with parts, open parts and preload hint")
	}
	if strings.Contains(pl.raw, "#EXT-X-DISCONTINUITY\n") {
		t.Error("a continuous publication has discontinuities")
	}
	for _, s := range pl.segments[len(pl.segments)-1:] {
		var sum float64
		for i, p := range s.parts {
			if p.dur > 0.2001 {
				t.Errorf("segment %d part %d: %.3f s is longer than the part target", s.msn, i, p.dur)
			}
			if p.independent != (i == 0) {
				t.Errorf("segment %d part %d: INDEPENDENT=%v", s.msn, i, p.independent)
			}
			sum += p.dur
		}
		if len(s.parts) == 0 || sum < s.dur-0.01 || sum > s.dur+0.01 {
			t.Errorf("segment %d: %d parts of %.3f s for a %.3f s segment", s.msn, len(s.parts), sum, s.dur)
		}
	}

	t.Run("parts make up the segment", func(t *testing.T) {
		s := pl.segments[len(pl.segments)-1]
		_, seg, _ := fetch(t, base+s.uri)
		var joined []byte
		for _, p := range s.parts {
			code, b, _ := fetch(t, base+p.uri)
			if code != 200 {
				t.Fatalf("part: %d %s", code, b)
			}
			joined = append(joined, b...)
		}
		if got, want := samplesOf(t, joined), samplesOf(t, seg); got != want {
			t.Errorf("parts hold %s, the segment %s", got, want)
		}
		code, init, _ := fetch(t, base+pl.maps[len(pl.maps)-1])
		if code != 200 || !bytes.Contains(init[:32], []byte("ftyp")) {
			t.Fatalf("init: %d", code)
		}
	})

	t.Run("blocking reload", func(t *testing.T) {
		// A part that exists: answered at once.
		msn := pl.msn + uint64(len(pl.segments))
		code, body, took := fetch(t, fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", mediaURL, msn, 0))
		if code != 200 || took > 100*time.Millisecond {
			t.Errorf("existing part: %d after %v", code, took)
		}
		// The next part: held until it is cut, then listed.
		nmsn, npart := parseLL(t, string(body)).next()
		code, body, took = fetch(t, fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", mediaURL, nmsn, npart))
		if code != 200 {
			t.Fatalf("next part: %d %s", code, body)
		}
		got := parseLL(t, string(body))
		has := len(got.segments) > 0 && got.segments[len(got.segments)-1].msn >= nmsn && len(got.open) > 0 // a new segment began
		if m := got.msn + uint64(len(got.segments)); m == nmsn && len(got.open) > npart {
			has = true
		}
		if !has {
			t.Errorf("after waiting %v the playlist lacks part %d of %d:\n%s", took, npart, nmsn, body)
		}
		// The preload hint: requested before the part exists, answered when it does.
		code, part, _ := fetch(t, base+got.hint)
		if code != 200 || !bytes.Contains(part[:16], []byte("moof")) {
			t.Errorf("preload hint: %d", code)
		}
	})

	t.Run("segment complete before durable", func(t *testing.T) {
		// When a segment's last part is cut the playlist lists the segment
		// at once, a few ms before its fragment is stored: fetching it
		// right away must still work.
		for range 2 {
			_, _, body := httpGet(t, mediaURL)
			cur := parseLL(t, body)
			msn := cur.msn + uint64(len(cur.segments)) + 1
			code, body2, _ := fetch(t, fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=0", mediaURL, msn))
			if code != 200 {
				t.Fatalf("blocking reload for the next segment: %d %s", code, body2)
			}
			got := parseLL(t, string(body2))
			var seg *llSegment
			for i := range got.segments {
				if got.segments[i].msn == msn-1 {
					seg = &got.segments[i]
				}
			}
			if seg == nil {
				t.Fatalf("segment %d not listed after part 0 of %d:\n%s", msn-1, msn, body2)
			}
			if code, b, _ := fetch(t, base+seg.uri); code != 200 || !bytes.Contains(b[:16], []byte("moof")) {
				t.Fatalf("segment %d fetched as soon as listed: %d %s", seg.msn, code, b)
			}
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		last := pl.msn + uint64(len(pl.segments))
		for _, c := range []struct {
			q    string
			code int
		}{
			{fmt.Sprintf("&_HLS_msn=%d", last+50), 400},
			{"&_HLS_part=1", 400},
			{"&_HLS_msn=x", 400},
			{"&_HLS_msn=1&_HLS_part=-1", 400},
		} {
			if code, body, _ := fetch(t, mediaURL+c.q); code != c.code {
				t.Errorf("%s: %d %s, want %d", c.q, code, body, c.code)
			}
		}
		hint := base + pl.hint
		tok := hint[:strings.Index(hint, "&PartNumber=")]
		for q, want := range map[string]int{"&PartNumber=x": 400, "&PartNumber=1": 404, "&PartNumber=99999999999": 404} {
			if code, body, _ := fetch(t, tok+q); code != want {
				t.Errorf("part %s: %d %s, want %d", q, code, body, want)
			}
		}
	})

	t.Run("publisher leaves", func(t *testing.T) {
		stopPub()
		stopped(t, done)
		_, _, body := httpGet(t, mediaURL)
		var got *llPlaylist
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			_, _, body = httpGet(t, mediaURL)
			if got = parseLL(t, body); got.hint == "" {
				break
			}
		}
		if got.hint != "" || len(got.open) != 0 {
			t.Fatalf("an ended publication still offers parts to come:\n%s", body)
		}
		// Nothing more is coming: a blocking reload ends with 503 after
		// three target durations.
		msn, part := got.next()
		code, _, took := fetch(t, fmt.Sprintf("%s&_HLS_msn=%d&_HLS_part=%d", mediaURL, msn, part))
		if code != http.StatusServiceUnavailable || took < 5*time.Second {
			t.Errorf("blocking reload with no publisher: %d after %v, want 503 after 6 s", code, took)
		}
	})
}

// samplesOf summarizes the samples of fMP4 media segments: per track,
// count, first decode time and total duration.
func samplesOf(t *testing.T, b []byte) string {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	type acc struct {
		n          int
		first, dur uint64
		bytes      int
	}
	tracks := map[uint32]*acc{}
	for _, seg := range f.Segments {
		for _, fr := range seg.Fragments {
			for _, traf := range fr.Moof.Trafs {
				id := traf.Tfhd.TrackID
				a := tracks[id]
				if a == nil {
					a = &acc{first: traf.Tfdt.BaseMediaDecodeTime()}
					tracks[id] = a
				}
				for _, trun := range traf.Truns {
					for _, s := range trun.Samples {
						a.n++
						a.dur += uint64(s.Dur)
						a.bytes += int(s.Size)
					}
				}
			}
		}
	}
	var out []string
	for id := uint32(1); id <= 2; id++ {
		if a := tracks[id]; a != nil {
			out = append(out, fmt.Sprintf("track %d: %d samples, %d bytes from %d for %d", id, a.n, a.bytes, a.first, a.dur))
		}
	}
	return strings.Join(out, "; ")
}
