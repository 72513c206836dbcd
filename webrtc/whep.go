package webrtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/media"
)

// sender is one track of a WHEP session: the hub track it plays and the
// RTP timeline it writes.
type sender struct {
	srv   *Server
	ss    *session
	out   *outTrack
	local *localTrack
	pack  *sharedPacker // set by forward, once the hub is known; nil: out.pack alone
	seq   uint16        // next RTP sequence number (random start)
	base  uint32        // random first RTP timestamp (RFC 3550 5.1)
	shift int64         // added to the unit's PTS
	last  int64         // last output DTS, to stay monotonic across resyncs
	sent  bool
	// since is when the current reader started playing: units that arrived
	// before (the replay, those queued while connecting) are not timed.
	since time.Time
	// clk dates the video frames on the producer's clock (events channel
	// clock messages).
	clk producerClock
}

// offered lists, per media kind ("video", "audio"), the encoding names
// the offer can receive, each with the fmtp lines of its payload types
// ("" for one without).
type offered map[string]map[string][]string

// offeredCodecs returns the codecs the offer receives and the mids of its
// sections by kind.
func offeredCodecs(desc *sdp.SessionDescription) (codecs offered, mids map[string][]string, err error) {
	codecs, mids = offered{}, map[string][]string{}
	receiving := 0
	for _, m := range desc.MediaDescriptions {
		kind := m.MediaName.Media
		mid, _ := m.Attribute("mid")
		mids[kind] = append(mids[kind], mid)
		if _, ok := m.Attribute("sendonly"); ok {
			continue
		}
		if _, ok := m.Attribute("inactive"); ok {
			continue
		}
		receiving++
		if codecs[kind] == nil {
			codecs[kind] = map[string][]string{}
		}
		names, fmtps := map[string]string{}, map[string]string{}
		for _, a := range m.Attributes {
			// rtpmap:<pt> <name>/<rate>[/<channels>], fmtp:<pt> <parameters>
			pt, v, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			switch a.Key {
			case "rtpmap":
				name, _, _ := strings.Cut(v, "/")
				names[pt] = strings.ToUpper(name)
			case "fmtp":
				fmtps[pt] = v
			}
		}
		for pt, name := range names {
			codecs[kind][name] = append(codecs[kind][name], fmtps[pt])
		}
	}
	if receiving == 0 {
		return nil, nil, refuse(400, "bad_sdp", "the offer receives nothing (every media section is sendonly or inactive); to publish, POST the offer to /whip")
	}
	return codecs, mids, nil
}

// h264Fmtp picks, among the offer's H.264 fmtp lines, the one to answer a
// stream of profile-level-id want with: packetization mode 1 and the same
// profile_idc (pion matches the profile byte and the constraint byte
// exactly, and browsers decode any level), else constrained baseline,
// else the first in mode 1. "" when the offer has none in mode 1.
func h264Fmtp(fmtps []string, want string) string {
	var mode1 []string
	for _, f := range fmtps {
		if strings.Contains(f, "packetization-mode=1") {
			mode1 = append(mode1, f)
		}
	}
	pli := func(f string) string {
		for _, kv := range strings.Split(f, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(kv), "profile-level-id="); ok && len(v) == 6 {
				return strings.ToLower(v)
			}
		}
		return ""
	}
	for _, f := range mode1 {
		if p := pli(f); p != "" && p[:2] == want[:2] {
			return f
		}
	}
	for _, f := range mode1 {
		if strings.HasPrefix(pli(f), "42e0") {
			return f
		}
	}
	if len(mode1) > 0 {
		return mode1[0]
	}
	return ""
}

// mimeName is the SDP encoding name of a pion MIME type ("video/H264" →
// "H264").
func mimeName(mime string) string {
	_, n, _ := strings.Cut(mime, "/")
	return strings.ToUpper(n)
}

// planWHEP picks the hub tracks to send for an offer: the first video
// track and the first audio track WebRTC can carry and the offer accepts.
// notes (by media kind) say what is left out and why.
func planWHEP(tracks []media.Track, offered offered) (outs []*outTrack, notes map[string]string, err error) {
	notes = map[string]string{}
	var refusals []string
	for _, kind := range []media.TrackKind{media.Video, media.Audio} {
		kname := "video"
		if kind == media.Audio {
			kname = "audio"
		}
		var why string
		for _, t := range tracks {
			if t.Kind != kind {
				continue
			}
			ok, reason := media.WebRTCTrack(t)
			if !ok {
				why = "the stream's " + kname + " is " + reason
				continue
			}
			o, err := newOutTrack(t)
			if err != nil {
				return nil, nil, err
			}
			if offered[kname] == nil {
				why = "the offer has no " + kname + " section that receives"
				break
			}
			fmtps, ok := offered[kname][mimeName(o.cap.MimeType)]
			if ok && t.Codec == media.CodecH264 {
				f := h264Fmtp(fmtps, h264ProfileLevel(t))
				ok = f != ""
				o.cap.SDPFmtpLine = f
			}
			if !ok {
				why = fmt.Sprintf("the stream's %s is %s, which the offer does not accept (it offers %s)", kname, t.Codec, strings.Join(sortedKeys(offered[kname]), ", "))
				break
			}
			outs = append(outs, o)
			why = ""
			break
		}
		if why != "" {
			notes[kname] = why
			refusals = append(refusals, why)
		}
	}
	if len(outs) == 0 {
		if len(refusals) == 0 {
			refusals = append(refusals, "the stream has no tracks")
		}
		return nil, nil, refuse(400, "no_codec", "nothing to send: %s", strings.Join(refusals, "; "))
	}
	if notes["audio"] != "" {
		notes["audio"] = "audio not sent: " + notes["audio"] + "; the stream plays video-only over WebRTC (HLS has the sound)"
	}
	if notes["video"] != "" {
		notes["video"] = "video not sent: " + notes["video"]
	}
	return outs, notes, nil
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Server) postWHEP(w http.ResponseWriter, r *http.Request) {
	who, ok := s.authorizeOffer(w, r, kindWHEP)
	if !ok {
		return
	}
	raw, desc, err := s.readOffer(r)
	if err != nil {
		s.httpError(w, err)
		return
	}
	name := chi.URLParam(r, "stream")
	offered, mids, err := offeredCodecs(desc)
	if err != nil {
		s.httpError(w, err)
		return
	}
	// Attach to the publication now: it gives the tracks to plan with, and
	// for an on-demand pull source it starts the camera (waiting for it).
	rctx, cancel := context.WithTimeout(r.Context(), sourceWait)
	v, err := s.Registry.Read(rctx, name)
	cancel()
	if err != nil {
		switch {
		case errors.Is(err, media.ErrNotFound) && s.StreamExists != nil && !s.StreamExists(name):
			s.httpError(w, refuse(404, "not_found", "stream %q does not exist", name))
		case errors.Is(err, media.ErrNotFound):
			s.httpError(w, refuse(404, "not_live", "stream %q is not live: nothing is publishing it", name))
		default:
			s.httpError(w, refuse(503, "not_live", "stream %q did not start: %v", name, err))
		}
		return
	}
	outs, notes, err := planWHEP(v.Tracks, offered)
	if err != nil {
		v.Close()
		s.httpError(w, err)
		return
	}

	ss := newSession(s, kindWHEP, name)
	ss.setOwner(who)
	if err := s.admit(ss); err != nil {
		v.Close()
		s.httpError(w, err)
		return
	}
	ss.addOnClose(v.Close)
	senders, err := ss.setupWHEP(raw, outs)
	if err != nil {
		ss.close("negotiation failed")
		s.httpError(w, err)
		return
	}
	ans, ok := s.answerOffer(w, ss, desc)
	if !ok {
		return
	}
	byMid := map[string]string{}
	var notices []string
	for kind, note := range notes {
		notices = append(notices, note)
		for _, mid := range mids[kind] {
			byMid[mid] = note
		}
	}
	sort.Strings(notices)
	v.Only(sentTracks(senders)...) // no wake-up for a unit not sent (AAC)
	s.respondCreated(w, ss, withNotes(ans, byMid), notices)
	ss.log.Info("viewer connecting", "remote", r.RemoteAddr, "tracks", len(senders), "notices", strings.Join(notices, "; "))
	go ss.forward(v, senders)
}

// sentTracks returns the hub tracks the senders send.
func sentTracks(senders []*sender) []int {
	ids := make([]int, len(senders))
	for i, s := range senders {
		ids[i] = s.out.track.ID
	}
	return ids
}

// sourceWait is how long a WHEP request waits for an on-demand source's
// camera to start publishing.
const sourceWait = 10 * time.Second

// setupWHEP creates the peer connection with one sending track per out
// and applies the offer.
func (ss *session) setupWHEP(offer string, outs []*outTrack) ([]*sender, error) {
	pc, err := ss.srv.newPeerConnection(ss.srv.whepAPI)
	if err != nil {
		return nil, err
	}
	ss.pc = pc
	ss.watch()
	var senders []*sender
	for _, o := range outs {
		kind := "video"
		if o.track.Kind == media.Audio {
			kind = "audio"
		}
		local, err := newLocalTrack(o.cap, kind, "eddy-"+ss.stream)
		if err != nil {
			return nil, err
		}
		rs, err := pc.AddTrack(local)
		if err != nil {
			return nil, err
		}
		go ss.readRTCP(rs)
		snd := &sender{srv: ss.srv, ss: ss, out: o, local: local, base: randUint32(), seq: uint16(randUint32())}
		if o.track.Kind == media.Video {
			snd.clk.rate = int64(o.track.ClockRate)
		}
		senders = append(senders, snd)
	}
	// A client that wants the stream's events creates a data channel
	// before its offer.
	pc.OnDataChannel(ss.acceptEvents)
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return nil, refuse(400, "bad_sdp", "SDP offer rejected: %v", err)
	}
	return senders, nil
}

// readRTCP drains a sender's RTCP (the interceptors answer NACKs from it)
// and passes keyframe requests on to a WHIP publisher.
func (ss *session) readRTCP(rs *pion.RTPSender) {
	for {
		pkts, _, err := rs.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				ss.srv.requestKeyframe(ss.stream)
			}
		}
	}
}

// forward plays the publication to the viewer once connected, until the
// publication ends or the session does. A viewer that falls a whole queue
// behind (a slow peer) starts again at the last keyframe; the publisher
// and the other viewers never wait for it.
func (ss *session) forward(v *media.Viewer, senders []*sender) {
	select {
	case <-ss.up:
	case <-ss.done:
		return
	}
	ss.log.Info("viewer connected", "after", ss.sinceCreated())
	hub := v.Hub
	for _, s := range senders {
		pack, err := ss.srv.packer(hub, s.out)
		if err != nil { // the viewer's own packetizer works: not shared
			ss.log.Warn("shared packetizer", "err", err)
		}
		s.pack = pack
		defer ss.srv.releasePacker(pack)
	}
	for {
		err := ss.play(v, senders)
		v.Close()
		switch {
		case errors.Is(err, media.ErrOverflow):
			ss.srv.resyncs.Add(1)
			ss.log.Warn("viewer fell behind; restarting at the last keyframe")
			if v, err = ss.srv.Registry.Read(ss.ctx, ss.stream); err != nil {
				ss.close("publication ended")
				return
			}
			if v.Hub != hub {
				v.Close()
				ss.close("publication ended (a new one started)")
				return
			}
			v.Only(sentTracks(senders)...)
			continue
		case errors.Is(err, io.EOF):
			ss.close("publication ended")
		case errors.Is(err, context.Canceled):
			// closed elsewhere
		default: // play ends with an error only
			ss.close(fmt.Sprint("sending failed: ", err))
		}
		return
	}
}

// play sends v's units. The replay of the GOP since the last keyframe (the
// reader's backlog) is sent at once with its video timestamps squeezed
// just below the newest one, so the browser decodes from the keyframe and
// shows the present instead of playing the past GOP in real time; backlog
// audio is skipped.
func (ss *session) play(v *media.Viewer, senders []*sender) error {
	byTrack := map[int]*sender{}
	now := time.Now()
	for _, s := range senders {
		byTrack[s.out.track.ID] = s
		s.since = now
		if s.pack != nil {
			s.pack.playing.Add(1)
			defer s.pack.playing.Add(-1)
		}
	}
	var backlog []*media.AccessUnit
	for i := 0; i < v.Backlog(); i++ {
		au, err := v.Read(ss.ctx)
		if err != nil {
			return err
		}
		if s := byTrack[au.Track]; s != nil && s.out.track.Kind == media.Video {
			backlog = append(backlog, au)
		}
	}
	for i, au := range backlog {
		s := byTrack[au.Track]
		newest := backlog[len(backlog)-1]
		// out DTS = newest DTS - (units after this one), one tick apart.
		squeeze := newest.DTS - int64(len(backlog)-1-i) - au.DTS
		if err := s.send(au, squeeze); err != nil {
			return err
		}
	}
	for {
		au, err := v.Read(ss.ctx)
		if err != nil {
			return err
		}
		s := byTrack[au.Track]
		if s == nil {
			continue
		}
		if err := s.send(au, 0); err != nil {
			return err
		}
	}
}

// send packetizes au and writes it, its timestamps moved by extra (on top
// of the sender's shift) and kept monotonic.
func (s *sender) send(au *media.AccessUnit, extra int64) error {
	dts := au.DTS + s.shift + extra
	jumped := false
	if s.sent && dts <= s.last {
		// A resync restarted earlier than what was sent: move on.
		s.shift += s.last + 1 - dts
		dts = s.last + 1
		jumped = true
	}
	s.last, s.sent = dts, true
	pts := au.PTS + (dts - au.DTS)
	pkts, err := s.packets(au, extra == 0)
	if err != nil {
		return nil // a unit the packetizer refuses is skipped
	}
	ts := s.base + uint32(pts)
	live := extra == 0 && au.Arrival.After(s.since)
	if err := s.write(pkts, ts, au, live); err != nil {
		return err
	}
	if s.clk.rate > 0 {
		at := s.clk.at(au)
		if ec := s.ss.evch.Load(); ec != nil && extra == 0 && !at.IsZero() {
			ec.clock(ts, at, jumped)
		}
	}
	return nil
}

// write sends a unit's packets, stamped relative to ts. The first leaves
// at once; the rest are held and leave together (batchConn) once this
// viewer's first packets of the unit are out, with the other viewers'.
// A live unit's first and last packets are timed when handed to the
// kernel (forwardFirst, forwardLast).
func (s *sender) write(pkts []*rtp.Packet, ts uint32, au *media.AccessUnit, live bool) error {
	var peer *netip.AddrPort
	if s.srv.batch != nil {
		peer = s.ss.peer.Load()
	}
	held := false
	defer func() {
		if held {
			s.srv.batch.Flush(*peer)
		}
	}()
	for i, p := range pkts {
		if i == 1 && len(pkts) > 2 && peer != nil {
			s.srv.batch.Hold(*peer)
			held = true
		}
		err := s.local.write(p, s.seq, ts)
		s.seq++
		if err != nil {
			if errors.Is(err, io.ErrClosedPipe) {
				return context.Canceled
			}
			return err
		}
		if live && i == 0 {
			s.timed(s.srv.forwardFirst, peer, au.Arrival)
		}
		if i == 0 && len(pkts) > 1 {
			// The other viewers of this unit are runnable too: let each send
			// its first packet before this one sends the rest (a keyframe
			// is ~50 packets per viewer): wait for them on the shared
			// packer, or yield where the unit is not shared.
			if !live || s.pack == nil || !s.pack.sentFirst(au) {
				runtime.Gosched()
			}
		}
	}
	if held {
		held = false
		s.srv.batch.Flush(*peer)
	}
	if live && len(pkts) > 0 {
		s.timed(s.srv.forwardLast, peer, au.Arrival)
	}
	return nil
}

// timed observes in h the time since at once what was written to peer so
// far has been handed to the kernel (held packets leave later: see
// batchConn.Sent); at once without a peer (not over the ICE port's UDP
// socket).
func (s *sender) timed(h prometheus.Histogram, peer *netip.AddrPort, at time.Time) {
	if peer == nil {
		h.Observe(time.Since(at).Seconds())
		return
	}
	s.srv.batch.Sent(*peer, func() { h.Observe(time.Since(at).Seconds()) })
}

// packets returns au's packets: the shared ones for a live unit, made
// with the sender's own packetizer for a replayed one (live false) or a
// codec not shared.
func (s *sender) packets(au *media.AccessUnit, live bool) ([]*rtp.Packet, error) {
	if s.pack == nil {
		return s.out.pack(au)
	}
	return s.pack.packets(au, live, s.out.pack)
}

func (ss *session) sinceCreated() string {
	return time.Since(ss.created).Round(time.Millisecond).String()
}
