package hls

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/media"
)

type sessionURLIn struct {
	kvsapi.StreamRef
	PlaybackMode        *string `json:"PlaybackMode"`
	HLSFragmentSelector *struct {
		FragmentSelectorType *string `json:"FragmentSelectorType"`
		TimestampRange       *struct {
			StartTimestamp *kvsapi.Timestamp `json:"StartTimestamp"`
			EndTimestamp   *kvsapi.Timestamp `json:"EndTimestamp"`
		} `json:"TimestampRange"`
	} `json:"HLSFragmentSelector"`
	ContainerFormat                 *string `json:"ContainerFormat"`
	DiscontinuityMode               *string `json:"DiscontinuityMode"`
	DisplayFragmentTimestamp        *string `json:"DisplayFragmentTimestamp"`
	Expires                         *int64  `json:"Expires"`
	MaxMediaPlaylistFragmentResults *int64  `json:"MaxMediaPlaylistFragmentResults"`
}

// ServeSessionURL answers a GetHLSStreamingSessionURL request whose
// caller the web UI has already authenticated and allowed hls:read on
// the stream: the same session URL as the API operation, for principal
// ("" without credentials), which must keep hls:read for the session to
// keep playing.
//
// The stream the request resolves to (by StreamName or StreamARN) is
// checked again here against hls:read: what the UI checked is the name it
// read, and this is the one served.
func (s *Server) ServeSessionURL(w http.ResponseWriter, r *http.Request, principal string) {
	var id *kvsapi.Identity
	if principal != "" && s.Guard.Enabled() {
		var ok bool
		if id, ok = s.Guard.Identity(principal); !ok {
			s.deny(w, r, kvsapi.ReasonUnknownKey, principal, "The identity of this session is no longer configured.")
			return
		}
	}
	c, ok := s.Guard.BeginAs(w, r, "GetHLSStreamingSessionURL", s.resolver, id, ActionUI)
	if ok {
		s.serveSessionURL(w, r, c, principal)
	}
}

func (s *Server) getSessionURL(w http.ResponseWriter, r *http.Request) {
	c, ok := s.Guard.Begin(w, r, "GetHLSStreamingSessionURL", s.resolver)
	if !ok {
		return
	}
	s.serveSessionURL(w, r, c, "")
}

// serveSessionURL answers a GetHLSStreamingSessionURL call past
// authentication; principal is the web UI's user, "" for an API call.
func (s *Server) serveSessionURL(w http.ResponseWriter, r *http.Request, c *kvsapi.Call, principal string) {
	var in sessionURLIn
	if err := c.Decode(&in); err != nil {
		kvsapi.WriteError(w, err)
		return
	}
	sess, err := s.newSession(c, &in)
	if err != nil {
		c.Fail(w, err)
		return
	}
	if principal != "" {
		sess.Identity, sess.UI = principal, true
	}
	if id := c.ID; id != nil {
		sess.SecretTag = s.sign.secretTag(id.AccessKeyID, id.Secret)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := fmt.Sprintf("%s://%s/hls/v1/%s?SessionToken=%s", scheme, r.Host, pathMaster, s.sign.sign(sess))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"HLSStreamingSessionURL": u})
}

// newSession validates a GetHLSStreamingSessionURL request (the Kinesis
// Video archived-media API's rules for each member).
func (s *Server) newSession(c *kvsapi.Call, in *sessionURLIn) (*session, error) {
	st, d, err := c.Archive(in.StreamRef)
	if err != nil {
		return nil, err
	}
	name := d.Name
	now := s.Now()
	sess := &session{Stream: name, Created: d.Created.UnixMilli(), Mode: ModeLive, Container: ContainerFMP4, Issued: now.UnixNano()}
	if c.ID != nil {
		sess.Identity = c.ID.AccessKeyID
	}
	if in.PlaybackMode != nil {
		switch *in.PlaybackMode {
		case "LIVE":
		case "LIVE_REPLAY":
			sess.Mode = ModeReplay
		case "ON_DEMAND":
			sess.Mode = ModeOnDemand
		default:
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "PlaybackMode must be LIVE, LIVE_REPLAY or ON_DEMAND.")
		}
	}
	if in.ContainerFormat != nil {
		switch *in.ContainerFormat {
		case "FRAGMENTED_MP4":
		case "MPEG_TS":
			sess.Container = ContainerTS
		default:
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "ContainerFormat must be FRAGMENTED_MP4 or MPEG_TS.")
		}
	}
	if sel := in.HLSFragmentSelector; sel != nil {
		if t := sel.FragmentSelectorType; t != nil {
			switch *t {
			case "SERVER_TIMESTAMP":
			case "PRODUCER_TIMESTAMP":
				sess.Producer = true
			default:
				return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "FragmentSelectorType must be SERVER_TIMESTAMP or PRODUCER_TIMESTAMP.")
			}
		}
		if tr := sel.TimestampRange; tr != nil {
			if sess.Mode == ModeLive {
				return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "TimestampRange must not be set for LIVE playback.")
			}
			if tr.StartTimestamp == nil {
				return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "TimestampRange.StartTimestamp is required.")
			}
			sess.Start = tr.StartTimestamp.UnixNano()
			if tr.EndTimestamp != nil {
				sess.End = kvsapi.InclusiveEnd(tr.EndTimestamp.Time)
				if sess.End < sess.Start {
					return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "EndTimestamp must not be before StartTimestamp.")
				}
				if sess.Mode == ModeOnDemand && time.Duration(sess.End-sess.Start) > 24*time.Hour {
					return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "An ON_DEMAND range spans at most 24 hours.")
				}
			}
		}
	}
	if sess.Mode != ModeLive && (in.HLSFragmentSelector == nil || in.HLSFragmentSelector.TimestampRange == nil) {
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "HLSFragmentSelector.TimestampRange is required for ON_DEMAND and LIVE_REPLAY playback.")
	}
	if sess.Mode == ModeOnDemand && sess.End == 0 {
		return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "TimestampRange.EndTimestamp is required for ON_DEMAND playback.")
	}
	sess.Disc = DiscAlways
	if sess.Producer {
		sess.Disc = DiscNever
	}
	if m := in.DiscontinuityMode; m != nil {
		switch *m {
		case "ALWAYS":
			sess.Disc = DiscAlways
		case "NEVER":
			sess.Disc = DiscNever
		case "ON_DISCONTINUITY":
			sess.Disc = DiscOnDisc
		default:
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "DiscontinuityMode must be ALWAYS, NEVER or ON_DISCONTINUITY.")
		}
	}
	if v := in.DisplayFragmentTimestamp; v != nil {
		switch *v {
		case "ALWAYS":
			sess.ShowTime = true
		case "NEVER":
		default:
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "DisplayFragmentTimestamp must be ALWAYS or NEVER.")
		}
	}
	expires := int64(300)
	if in.Expires != nil {
		if *in.Expires < 300 || *in.Expires > 43200 {
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "Expires must be between 300 and 43200 seconds.")
		}
		expires = *in.Expires
	}
	sess.Expires = now.Unix() + expires
	sess.MaxResults = 5
	if sess.Mode == ModeOnDemand {
		sess.MaxResults = 1000
	}
	if v := in.MaxMediaPlaylistFragmentResults; v != nil {
		if *v < 1 || *v > 5000 {
			return nil, kvsapi.Errorf(kvsapi.CodeInvalidArgument, "MaxMediaPlaylistFragmentResults must be between 1 and 5000.")
		}
		sess.MaxResults = uint32(*v)
	}
	// A session with nothing to play is refused now, as KVS does.
	noFragments := kvsapi.Errorf(kvsapi.CodeNotFound, "No fragments found in the stream for the HLS streaming request.")
	switch sess.Mode {
	case ModeLive:
		last, ok := st.Last()
		if !ok || now.Sub(time.Unix(0, last.ServerTime+last.Duration)) > liveRecent {
			return nil, noFragments
		}
		if err := checkCodecs(st, last.InitID, sess.Container, name); err != nil {
			return nil, err
		}
		// Discontinuities are numbered from the oldest fragment the
		// session could ever list.
		sess.Anchor = last.Seq - uint64(min(uint64(sess.MaxResults), last.Seq-1))
	default:
		end := sess.End
		if end == 0 {
			end = math.MaxInt64
		}
		got, _, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, end), 0, 1)
		if err != nil {
			return nil, err
		}
		if len(got) == 0 {
			return nil, noFragments
		}
		if err := checkCodecs(st, got[0].InitID, sess.Container, name); err != nil {
			return nil, err
		}
		sess.Anchor = got[0].Seq
	}
	return sess, nil
}

// checkCodecs refuses a session for a recording HLS cannot carry, judged
// by the codecs of init segment id (that of the first fragment the session
// plays): VP8 video in any container (no browser plays it from HLS), and
// any video but H.264 and H.265 in MPEG-TS (the rules of media.HLSVideo
// and media.TSVideo). KVS answers UnsupportedStreamMediaTypeException for
// codecs it cannot package (GetHLSStreamingSessionURL).
func checkCodecs(st *fragments.Store, id fragments.InitID, container byte, name string) error {
	b, err := st.Init(id)
	if err != nil {
		return nil
	}
	tracks, err := cmaf.InitTracks(b)
	if err != nil {
		return nil // not for this check to judge: serving the init segment will
	}
	for _, t := range tracks {
		if t.Kind != media.Video {
			continue
		}
		switch {
		case !media.HLSVideo(t.Codec):
			return kvsapi.Errorf(kvsapi.CodeUnsupportedMediaType,
				"The stream %s has %s video, which HLS cannot carry; play it with WebRTC (WHEP) instead.", name, t.Codec)
		case container == ContainerTS && !media.TSVideo(t.Codec):
			return kvsapi.Errorf(kvsapi.CodeUnsupportedMediaType,
				"The stream %s has %s video, which MPEG_TS cannot carry; use ContainerFormat FRAGMENTED_MP4, or play it with WebRTC (WHEP).", name, t.Codec)
		}
	}
	return nil
}
