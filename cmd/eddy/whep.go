package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// whepStats is what `eddy whep` saw.
type whepStats struct {
	Notice     string
	Codecs     []string
	Frames     int           // H.264/H.265 access units, or packets' frames of other codecs
	FirstFrame time.Duration // from the POST to the first frame
	FirstKey   bool          // the first frame was a keyframe
	Events     int           // events received on the events data channel (--events)
	Ended      string        // why it stopped
}

// whep plays a stream over WHEP: a small WHEP client that reports what it
// gets and can save H.264/H.265 as an Annex-B file (ffplay reads it).
func whep(args []string) error {
	fs := flag.NewFlagSet("whep", flag.ContinueOnError)
	out := fs.String("out", "", "write the H.264/H.265 video as Annex-B to this file (- for stdout)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until the session ends or Ctrl-C)")
	showEvents := fs.Bool("events", false, "open the events data channel and print each event of the stream as a JSON line (to stdout, or stderr with --out -)")
	bearer := fs.String("token", os.Getenv("EDDY_TOKEN"), "bearer token for a server with credentials (eddy token --action webrtc:read; default $EDDY_TOKEN)")
	usage.Set(fs, "[flags] http://HOST:8080/webrtc/STREAM/whep",
		`Plays a stream over WebRTC as a WHEP client: prints what it receives (tracks, frames, bitrate),
saves the H.264/H.265 video as Annex-B with --out (ffplay reads it), and prints the stream's live
events with --events. Ends with the session, after --duration, or on Ctrl-C.`)
	if err := usage.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usage.Errorf("whep", "want the WHEP URL, got %d arguments", fs.NArg())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	var w io.Writer
	switch *out {
	case "":
	case "-":
		w = os.Stdout
	default:
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	var evOut io.Writer
	if *showEvents {
		evOut = os.Stdout
		if w == os.Stdout {
			evOut = os.Stderr
		}
	}
	st, err := playWHEPEvents(ctx, fs.Arg(0), w, evOut, false, whepclient.WithToken(*bearer))
	if st != nil {
		evs := ""
		if *showEvents {
			evs = fmt.Sprintf("; %d events", st.Events)
		}
		fmt.Fprintf(os.Stderr, "eddy whep: codecs %s; first frame after %s (keyframe: %v); %d frames%s; ended: %s\n",
			strings.Join(st.Codecs, ", "), st.FirstFrame.Round(time.Millisecond), st.FirstKey, st.Frames, evs, st.Ended)
	}
	return err
}

// playWHEP plays endpoint until ctx ends or the server ends the session,
// writing H.264/H.265 access units to w (Annex-B) when w is not nil.
func playWHEP(ctx context.Context, endpoint string, w io.Writer, loopbackOnly bool, opts ...whepclient.Option) (*whepStats, error) {
	return playWHEPEvents(ctx, endpoint, w, nil, loopbackOnly, opts...)
}

// playWHEPEvents is playWHEP that, when evOut is not nil, also opens the
// events data channel and writes each event to evOut as a JSON line.
func playWHEPEvents(ctx context.Context, endpoint string, w, evOut io.Writer, loopbackOnly bool, opts ...whepclient.Option) (*whepStats, error) {
	api, err := whepclient.ClientAPI(loopbackOnly)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, err
		}
	}
	st := &whepStats{}
	var mu sync.Mutex
	ended := make(chan string, 1)
	end := func(why string) {
		select {
		case ended <- why:
		default:
		}
	}
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		if s == pion.PeerConnectionStateClosed || s == pion.PeerConnectionStateFailed {
			end("peer connection " + s.String())
		}
	})
	posted := time.Now()
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		mime := tr.Codec().MimeType
		mu.Lock()
		st.Codecs = append(st.Codecs, mime)
		mu.Unlock()
		var decode func(*rtp.Packet) ([][]byte, error)
		var isKey func([][]byte) bool
		switch strings.ToLower(mime) {
		case strings.ToLower(pion.MimeTypeH264):
			d := &rtph264.Decoder{}
			_ = d.Init()
			decode, isKey = d.Decode, h264.IsRandomAccess
		case strings.ToLower(pion.MimeTypeH265):
			d := &rtph265.Decoder{}
			_ = d.Init()
			decode, isKey = d.Decode, h265.IsRandomAccess
		}
		var lastTS uint32
		for {
			// ReadRTP allocates each packet: the depacketizers keep
			// references to payloads across packets.
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				if tr.Kind() == pion.RTPCodecTypeVideo {
					end("track ended")
				}
				return
			}
			if tr.Kind() != pion.RTPCodecTypeVideo {
				continue
			}
			if decode == nil {
				// Other codecs: count frames by RTP timestamp.
				mu.Lock()
				if st.Frames == 0 || pkt.Timestamp != lastTS {
					if st.Frames == 0 {
						st.FirstFrame = time.Since(posted)
					}
					st.Frames++
					lastTS = pkt.Timestamp
				}
				mu.Unlock()
				continue
			}
			au, err := decode(pkt)
			if err != nil {
				continue // more packets needed, or a damaged unit
			}
			mu.Lock()
			if st.Frames == 0 {
				st.FirstFrame, st.FirstKey = time.Since(posted), isKey(au)
			}
			st.Frames++
			mu.Unlock()
			if w != nil {
				b, err := h264.AnnexB(au).Marshal()
				if err == nil {
					_, err = w.Write(b)
				}
				if err != nil {
					end("writing: " + err.Error())
					return
				}
			}
		}
	})
	if evOut != nil {
		if _, err := whepclient.OpenEvents(pc, func(m whepclient.Message) {
			if m.Kind != "event" {
				return // clock messages are for players
			}
			mu.Lock()
			st.Events++
			mu.Unlock()
			_, _ = fmt.Fprintf(evOut, "%s\n", m.Event)
		}); err != nil {
			return nil, err
		}
	}
	hc := &http.Client{Timeout: 15 * time.Second}
	session, resp, _, err := whepclient.Negotiate(ctx, hc, endpoint, pc, opts...)
	if err != nil {
		return nil, err
	}
	st.Notice = resp.Header.Get("Eddy-Notice")
	if st.Notice != "" {
		fmt.Fprintf(os.Stderr, "eddy whep: %s\n", st.Notice)
	}
	select {
	case why := <-ended:
		st.Ended = why
	case <-ctx.Done():
		st.Ended = "stopped"
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = whepclient.EndSession(dctx, hc, session, opts...)
		cancel()
	}
	mu.Lock()
	defer mu.Unlock()
	out := *st
	out.Codecs = append([]string(nil), st.Codecs...)
	return &out, nil
}
