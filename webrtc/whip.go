package webrtc

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/go-chi/chi/v5"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
)

// whipSession is a publication over WHIP: the remote tracks feed an
// RTPIngest into the stream's hub, like an RTSP publisher.
type whipSession struct {
	*session
	ingest *rtpcodec.RTPIngest
	hub    *media.Hub
	// index of each transceiver's media in the ingest, by mid
	index map[string]int

	kfMu   sync.Mutex
	lastKF time.Time
	ssrcs  []uint32 // video SSRCs seen, for PLI
}

// requestKeyframe sends a PLI to the publisher's video, at most once every
// 500 ms.
func (ws *whipSession) requestKeyframe() {
	ws.kfMu.Lock()
	if time.Since(ws.lastKF) < 500*time.Millisecond || len(ws.ssrcs) == 0 {
		ws.kfMu.Unlock()
		return
	}
	ws.lastKF = time.Now()
	var pkts []rtcp.Packet
	for _, ssrc := range ws.ssrcs {
		pkts = append(pkts, &rtcp.PictureLossIndication{MediaSSRC: ssrc})
	}
	ws.kfMu.Unlock()
	_ = ws.pc.WriteRTCP(pkts)
}

func (s *Server) postWHIP(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authorizeOffer(w, r, kindWHIP)
	if !ok {
		return
	}
	raw, desc, err := s.readOffer(r)
	if err != nil {
		s.httpError(w, err)
		return
	}
	name := chi.URLParam(r, "stream")
	for _, m := range desc.MediaDescriptions {
		if _, ok := m.Attribute("recvonly"); ok {
			s.httpError(w, refuse(400, "bad_sdp", "the offer only receives (a=recvonly); to play, POST the offer to /whep"))
			return
		}
	}
	if _, busy := s.Registry.Hub(name); busy {
		s.httpError(w, refuse(409, "busy", "stream %q is already being published", name))
		return
	}
	ss := &whipSession{session: newSession(s, kindWHIP, name), index: map[string]int{}}
	ss.setOwner(who)
	if err := s.admit(ss.session); err != nil {
		s.httpError(w, err)
		return
	}
	notices, err := ss.setup(raw)
	if err != nil {
		ss.close("negotiation failed")
		s.httpError(w, err)
		return
	}
	ans, ok := s.answerOffer(w, ss.session, desc)
	if !ok {
		return
	}
	s.respondCreated(w, ss.session, ans, notices)
	ss.log.Info("publisher connecting", "remote", r.RemoteAddr, "tracks", len(ss.index), "notices", strings.Join(notices, "; "))
}

// setup creates the peer connection, applies the offer, picks one codec
// per sending media section, and starts the publication.
func (ws *whipSession) setup(offer string) ([]string, error) {
	s := ws.srv
	pc, err := s.newPeerConnection(s.whipAPI)
	if err != nil {
		return nil, err
	}
	ws.pc = pc
	ws.watch()
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return nil, refuse(400, "bad_sdp", "SDP offer rejected: %v", err)
	}
	var medias []*description.Media
	var notices, refusals []string
	video, audio := 0, 0
	for _, tr := range pc.GetTransceivers() {
		kind := tr.Kind()
		codecs := tr.Receiver().GetParameters().Codecs
		c, ok := chooseCodec(kind, codecs)
		if !ok {
			var names []string
			for _, c := range codecs {
				names = append(names, mimeName(c.MimeType))
			}
			why := kind.String() + " section " + tr.Mid() + " offers none of " + whipCodecs
			if len(names) > 0 {
				why += " (it offers " + strings.Join(names, ", ") + ")"
			}
			refusals = append(refusals, why)
			_ = tr.Stop()
			continue
		}
		if kind == pion.RTPCodecTypeVideo {
			video++
		} else {
			audio++
		}
		if video > 1 || audio > 4 {
			notices = append(notices, kind.String()+" section "+tr.Mid()+" not received: at most 1 video and 4 audio tracks")
			_ = tr.Stop()
			continue
		}
		if err := tr.SetCodecPreferences([]pion.RTPCodecParameters{c}); err != nil {
			return nil, err
		}
		m, err := ingestMedia(kind, c)
		if err != nil {
			return nil, err
		}
		ws.index[tr.Mid()] = len(medias)
		medias = append(medias, m)
	}
	if len(medias) == 0 {
		return nil, refuse(400, "no_codec", "nothing Eddy can receive: %s", strings.Join(refusals, "; "))
	}
	for _, r := range refusals {
		notices = append(notices, r+": not received")
	}
	ws.ingest, err = rtpcodec.NewRTPIngest(medias, ws.log)
	if err != nil {
		return nil, refuse(400, "no_codec", "%v", err)
	}
	tracks := ws.ingest.Tracks()
	for _, t := range tracks {
		switch {
		case t.Kind == media.Video && !media.HLSVideo(t.Codec):
			notices = append(notices, t.Codec+" video is live over WebRTC (WHEP) and RTSP and recorded (clips, GetMediaForFragmentList), but HLS cannot carry it; publish H.264 for HLS")
		case t.Kind == media.Video && !media.NativeHLSVideo(t.Codec):
			notices = append(notices, t.Codec+" video plays over HLS in MSE players (hls.js in Chromium and Firefox), not in Safari's native player; publish H.264 for every player")
		}
	}
	hub, err := s.Registry.PublishFrom("whip", ws.stream, tracks)
	if err != nil {
		return nil, publishError(ws.stream, err)
	}
	ws.hub = hub
	ws.ingest.Start(hub)
	go func() { // the server ends the publication (stream deleted, recording failed)
		select {
		case <-hub.Ended():
			ws.close(fmt.Sprint("publication ended by the server: ", hub.EndErr()))
		case <-ws.done:
		}
	}()
	s.mu.Lock()
	s.publishers[ws.stream] = ws
	s.mu.Unlock()
	ws.addOnClose(func() {
		s.mu.Lock()
		if s.publishers[ws.stream] == ws {
			delete(s.publishers, ws.stream)
		}
		s.mu.Unlock()
		s.Registry.Unpublish(ws.stream, hub)
	})
	pc.OnTrack(ws.onTrack)
	sort.Strings(notices)
	return notices, nil
}

// publishError translates a Registry.Publish error to HTTP.
func publishError(name string, err error) error {
	switch {
	case errors.Is(err, media.ErrAlreadyPublishing):
		return refuse(409, "busy", "stream %q is already being published", name)
	case errors.Is(err, media.ErrNotFound):
		return refuse(404, "not_found", "%v", err)
	case errors.Is(err, media.ErrForbidden):
		return refuse(403, "forbidden", "%v", err)
	case errors.Is(err, media.ErrInvalidName):
		return refuse(400, "bad_name", "%v", err)
	case errors.Is(err, rtpcodec.ErrUnsupportedCodec), errors.Is(err, rtpcodec.ErrTooManyTracks):
		return refuse(400, "no_codec", "%v", err)
	}
	return refuse(503, "publish", "cannot publish %q: %v", name, err)
}

// onTrack reads one remote track's RTP and RTCP into the ingest.
func (ws *whipSession) onTrack(tr *pion.TrackRemote, rc *pion.RTPReceiver) {
	var mid string
	for _, t := range ws.pc.GetTransceivers() {
		if t.Receiver() == rc {
			mid = t.Mid()
		}
	}
	i, ok := ws.index[mid]
	if !ok {
		return
	}
	if tr.Kind() == pion.RTPCodecTypeVideo {
		ws.kfMu.Lock()
		ws.ssrcs = append(ws.ssrcs, uint32(tr.SSRC()))
		ws.kfMu.Unlock()
		// Units before the first keyframe are dropped: ask for one now
		// rather than at the first periodic request.
		ws.requestKeyframe()
	}
	go func() {
		for {
			pkts, _, err := rc.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				ws.ingest.WriteRTCP(i, p)
			}
		}
	}()
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			ws.close("publisher's track ended")
			return
		}
		ws.ingest.WriteRTP(i, pkt)
	}
}
