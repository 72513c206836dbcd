package hls

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmenter"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// fileFragments fragments the first GOP and a bit of a testdata file.
func fileFragments(t *testing.T, file string) []stored {
	t.Helper()
	codec, units, err := mediatest.Units(mediatest.Testdata(file))
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	fr := &fragmenter.Fragmenter{Tracks: []media.Track{{Kind: media.Video, Codec: codec, ClockRate: 90000}},
		Emit: func(init *fragments.InitSegment, f *fragments.Fragment) error {
			out = append(out, stored{init.Bytes, f})
			return nil
		}}
	if err := fr.Initialize(); err != nil {
		t.Fatal(err)
	}
	for i, u := range units[:30] {
		if err := fr.Push(&media.AccessUnit{PTS: u.PTS, DTS: u.PTS, Key: i%25 == 0, Payload: u.Payload}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.Flush(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSessionRefusesCodecs(t *testing.T) {
	for _, tc := range []struct {
		file             string
		fmp4, ts         bool   // session granted
		codecs, errorMsg string // CODECS in the master playlist; text of the refusal
	}{
		{mediatest.FileVP8, false, false, "", "VP8 video, which HLS cannot carry; play it with WebRTC (WHEP)"},
		{mediatest.FileVP9, true, false, "vp09.00.20.08", "VP9 video, which MPEG_TS cannot carry"},
		{mediatest.FileAV1, true, false, "av01.0.00M.08", "AV1 video, which MPEG_TS cannot carry"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFixture(t)
			frags := fileFragments(t, tc.file)
			init := &fragments.InitSegment{ID: fragments.InitID{0xc}, Bytes: frags[0].init}
			start := f.at
			for _, s := range frags {
				fr := &fragments.Fragment{ServerTime: f.at.UnixNano(), ProducerTime: f.at.UnixNano(), Duration: s.f.Duration,
					Keyframe: true, InitID: init.ID, Media: s.f.Media}
				if _, err := f.st.Append(init, fr); err != nil {
					t.Fatal(err)
				}
				f.at = f.at.Add(time.Duration(s.f.Duration))
			}
			rng := map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
				"TimestampRange": map[string]any{"StartTimestamp": secs(start), "EndTimestamp": secs(f.at)}}
			for _, container := range []string{"FRAGMENTED_MP4", "MPEG_TS"} {
				b, _ := json.Marshal(map[string]any{"StreamName": "cam", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": rng, "ContainerFormat": container})
				resp, err := http.Post(f.srv.URL+"/getHLSStreamingSessionURL", "application/json", bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				var out struct {
					HLSStreamingSessionURL string
					Message                string
				}
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				want := tc.fmp4
				if container == "MPEG_TS" {
					want = tc.ts
				}
				if got := resp.StatusCode == 200; got != want {
					t.Fatalf("%s: status %d, want granted=%v", container, resp.StatusCode, want)
				}
				if !want {
					if typ := resp.Header.Get("x-amzn-ErrorType"); typ != kvsapi.CodeUnsupportedMediaType ||
						(!strings.Contains(out.Message, tc.errorMsg) && container == "FRAGMENTED_MP4") {
						t.Errorf("%s: %d %s %q", container, resp.StatusCode, typ, out.Message)
					}
					continue
				}
				_, master := f.get(out.HLSStreamingSessionURL)
				if !strings.Contains(master, `CODECS="`+tc.codecs+`"`) {
					t.Errorf("master playlist without CODECS %q:\n%s", tc.codecs, master)
				}
			}
			if _, err := tsSegment(frags[0].init, frags[0].f.Media); tc.file != mediatest.FileVP8 && !errors.Is(err, errTSVideo) {
				t.Errorf("MPEG-TS of %s: %v, want errTSVideo", tc.file, err)
			}
		})
	}
}
