package hls

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media"
)

// Server serves GetHLSStreamingSessionURL and the /hls/v1/ endpoints.
// Sessions are stateless: the signed SessionToken carries the stream, mode,
// range and expiry, and every request re-checks it.
type Server struct {
	Manager *fragments.Manager
	Key     []byte
	Now     func() time.Time
	Logger  *slog.Logger

	sign signer

	discMu   sync.Mutex
	discMemo map[discKey]discMemo

	llMu       sync.Mutex
	llRendered map[llKey]*llRendered
}

// Endpoint paths under /hls/v1/ (KVS names).
const (
	pathMaster = "getHLSMasterPlaylist.m3u8"
	pathMedia  = "getHLSMediaPlaylist.m3u8"
	pathInit   = "getMP4InitFragment.mp4"
	pathFrag   = "getMP4MediaFragment.mp4"
	pathTS     = "getTSFragment.ts"
	pathPart   = "getMP4MediaPart.mp4" // LL-HLS parts (Eddy's own)
)

// liveRecent is how recent the newest fragment must be for a LIVE session.
const liveRecent = 30 * time.Second

// Mount adds the routes to r.
func (s *Server) Mount(r chi.Router) {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.sign = signer{key: s.Key}
	r.Post("/getHLSStreamingSessionURL", s.getSessionURL)
	r.Get("/hls/v1/"+pathMaster, s.cors(s.master))
	r.Get("/hls/v1/"+pathMedia, s.cors(s.media))
	r.Get("/hls/v1/"+pathInit, s.cors(s.init))
	r.Get("/hls/v1/"+pathFrag, s.cors(s.fragment))
	r.Get("/hls/v1/"+pathTS, s.cors(s.tsFragment))
	r.Get("/hls/v1/"+pathPart, s.cors(s.part))
	r.Options("/hls/v1/*", s.cors(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
}

// cors lets pages of any origin play sessions: the token is the credential.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		hd.Set("Access-Control-Allow-Headers", "Range")
		hd.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range")
		h(w, r)
	}
}

func errf(code, format string, args ...any) error {
	return &fragments.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

type sessionURLIn struct {
	StreamName          *string `json:"StreamName"`
	StreamARN           *string `json:"StreamARN"`
	PlaybackMode        *string `json:"PlaybackMode"`
	HLSFragmentSelector *struct {
		FragmentSelectorType *string `json:"FragmentSelectorType"`
		TimestampRange       *struct {
			StartTimestamp *datastreams.Timestamp `json:"StartTimestamp"`
			EndTimestamp   *datastreams.Timestamp `json:"EndTimestamp"`
		} `json:"TimestampRange"`
	} `json:"HLSFragmentSelector"`
	ContainerFormat                 *string `json:"ContainerFormat"`
	DiscontinuityMode               *string `json:"DiscontinuityMode"`
	DisplayFragmentTimestamp        *string `json:"DisplayFragmentTimestamp"`
	Expires                         *int64  `json:"Expires"`
	MaxMediaPlaylistFragmentResults *int64  `json:"MaxMediaPlaylistFragmentResults"`
}

func (s *Server) getSessionURL(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fragments.WriteError(w, errf(fragments.CodeInvalidArgument, "Could not read the request body."))
		return
	}
	var in sessionURLIn
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			fragments.WriteError(w, errf(fragments.CodeInvalidArgument, "The request body is not valid JSON: %v.", err))
			return
		}
	}
	sess, err := s.newSession(&in)
	if err != nil {
		fragments.WriteError(w, err)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := fmt.Sprintf("%s://%s/hls/v1/%s?SessionToken=%s", scheme, r.Host, pathMaster, s.sign.sign(sess))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"HLSStreamingSessionURL": u})
}

// newSession validates a GetHLSStreamingSessionURL request (KVS-API.md §4.5).
func (s *Server) newSession(in *sessionURLIn) (*session, error) {
	name := ""
	switch {
	case in.StreamARN != nil:
		n, ok := s.Manager.NameFromARN(*in.StreamARN)
		if !ok {
			return nil, errf(fragments.CodeInvalidArgument, "StreamARN %s is not a valid Kinesis Video stream ARN.", *in.StreamARN)
		}
		name = n
	case in.StreamName != nil:
		name = *in.StreamName
	default:
		return nil, errf(fragments.CodeInvalidArgument, "Either StreamName or StreamARN must be provided.")
	}
	d, err := s.Manager.Describe(name)
	if err != nil {
		return nil, err
	}
	if d.DataRetentionInHours == 0 {
		return nil, errf(fragments.CodeNoDataRetention, "The stream %s has a data retention of 0 hours; HLS needs stored fragments.", name)
	}
	st, err := s.Manager.Store(name)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	sess := &session{Stream: name, Created: d.Created.UnixMilli(), Mode: ModeLive, Container: ContainerFMP4, Issued: now.UnixNano()}
	if in.PlaybackMode != nil {
		switch *in.PlaybackMode {
		case "LIVE":
		case "LIVE_REPLAY":
			sess.Mode = ModeReplay
		case "ON_DEMAND":
			sess.Mode = ModeOnDemand
		default:
			return nil, errf(fragments.CodeInvalidArgument, "PlaybackMode must be LIVE, LIVE_REPLAY or ON_DEMAND.")
		}
	}
	if in.ContainerFormat != nil {
		switch *in.ContainerFormat {
		case "FRAGMENTED_MP4":
		case "MPEG_TS":
			sess.Container = ContainerTS
		default:
			return nil, errf(fragments.CodeInvalidArgument, "ContainerFormat must be FRAGMENTED_MP4 or MPEG_TS.")
		}
	}
	if sel := in.HLSFragmentSelector; sel != nil {
		if t := sel.FragmentSelectorType; t != nil {
			switch *t {
			case "SERVER_TIMESTAMP":
			case "PRODUCER_TIMESTAMP":
				sess.Producer = true
			default:
				return nil, errf(fragments.CodeInvalidArgument, "FragmentSelectorType must be SERVER_TIMESTAMP or PRODUCER_TIMESTAMP.")
			}
		}
		if tr := sel.TimestampRange; tr != nil {
			if sess.Mode == ModeLive {
				return nil, errf(fragments.CodeInvalidArgument, "TimestampRange must not be set for LIVE playback.")
			}
			if tr.StartTimestamp == nil {
				return nil, errf(fragments.CodeInvalidArgument, "TimestampRange.StartTimestamp is required.")
			}
			sess.Start = tr.StartTimestamp.UnixNano()
			if tr.EndTimestamp != nil {
				sess.End = fragments.InclusiveEnd(tr.EndTimestamp.Time)
				if sess.End < sess.Start {
					return nil, errf(fragments.CodeInvalidArgument, "EndTimestamp must not be before StartTimestamp.")
				}
				if sess.Mode == ModeOnDemand && time.Duration(sess.End-sess.Start) > 24*time.Hour {
					return nil, errf(fragments.CodeInvalidArgument, "An ON_DEMAND range spans at most 24 hours.")
				}
			}
		}
	}
	if sess.Mode != ModeLive && (in.HLSFragmentSelector == nil || in.HLSFragmentSelector.TimestampRange == nil) {
		return nil, errf(fragments.CodeInvalidArgument, "HLSFragmentSelector.TimestampRange is required for ON_DEMAND and LIVE_REPLAY playback.")
	}
	if sess.Mode == ModeOnDemand && sess.End == 0 {
		return nil, errf(fragments.CodeInvalidArgument, "TimestampRange.EndTimestamp is required for ON_DEMAND playback.")
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
			return nil, errf(fragments.CodeInvalidArgument, "DiscontinuityMode must be ALWAYS, NEVER or ON_DISCONTINUITY.")
		}
	}
	if v := in.DisplayFragmentTimestamp; v != nil {
		switch *v {
		case "ALWAYS":
			sess.ShowTime = true
		case "NEVER":
		default:
			return nil, errf(fragments.CodeInvalidArgument, "DisplayFragmentTimestamp must be ALWAYS or NEVER.")
		}
	}
	expires := int64(300)
	if in.Expires != nil {
		if *in.Expires < 300 || *in.Expires > 43200 {
			return nil, errf(fragments.CodeInvalidArgument, "Expires must be between 300 and 43200 seconds.")
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
			return nil, errf(fragments.CodeInvalidArgument, "MaxMediaPlaylistFragmentResults must be between 1 and 5000.")
		}
		sess.MaxResults = uint32(*v)
	}
	// A session with nothing to play is refused now, as KVS does.
	noFragments := errf(fragments.CodeNotFound, "No fragments found in the stream for the HLS streaming request.")
	switch sess.Mode {
	case ModeLive:
		last, ok := st.Last()
		if !ok || now.Sub(time.Unix(0, last.ServerTime+last.Duration)) > liveRecent {
			return nil, noFragments
		}
		if err := checkCodecs(st, last.Seq, sess.Container, name); err != nil {
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
		if err := checkCodecs(st, got[0].Seq, sess.Container, name); err != nil {
			return nil, err
		}
		sess.Anchor = got[0].Seq
	}
	return sess, nil
}

// checkCodecs refuses a session for a recording HLS cannot carry, judged
// by the codecs of the fragment seq (the first the session plays): VP8
// video in any container (no browser plays it from HLS), and any video
// but H.264 and H.265 in MPEG-TS (the rules of media.HLSVideo and
// media.TSVideo). KVS answers UnsupportedStreamMediaTypeException for
// codecs it cannot package (GetHLSStreamingSessionURL).
func checkCodecs(st *fragments.Store, seq uint64, container byte, name string) error {
	id, err := st.InitOf(seq)
	if err != nil {
		return nil // trimmed meanwhile: the playlists will tell
	}
	b, err := st.Init(id)
	if err != nil {
		return nil
	}
	tracks, err := fragments.InitTracks(b)
	if err != nil {
		return nil // not for this check to judge: serving the init segment will
	}
	for _, t := range tracks {
		if t.Kind != media.Video {
			continue
		}
		switch {
		case !media.HLSVideo(t.Codec):
			return errf(fragments.CodeUnsupportedMediaType,
				"The stream %s has %s video, which HLS cannot carry; play it with WebRTC (WHEP) instead.", name, t.Codec)
		case container == ContainerTS && !media.TSVideo(t.Codec):
			return errf(fragments.CodeUnsupportedMediaType,
				"The stream %s has %s video, which MPEG_TS cannot carry; use ContainerFormat FRAGMENTED_MP4, or play it with WebRTC (WHEP).", name, t.Codec)
		}
	}
	return nil
}

func (sess *session) kind() fragments.IndexTime {
	if sess.Producer {
		return fragments.IndexProducerTime
	}
	return fragments.IndexServerTime
}

// open verifies a request's token and returns its session and store.
func (s *Server) open(w http.ResponseWriter, r *http.Request) (*session, *fragments.Store, bool) {
	sess, err := s.sign.verify(r.URL.Query().Get("SessionToken"))
	if err != nil {
		s.deny(w, "The session token is not valid.")
		return nil, nil, false
	}
	if s.Now().Unix() > sess.Expires {
		s.deny(w, "The session token has expired.")
		return nil, nil, false
	}
	d, err := s.Manager.Describe(sess.Stream)
	if err != nil || d.Created.UnixMilli() != sess.Created {
		fragments.WriteError(w, errf(fragments.CodeNotFound, "The stream of this session no longer exists."))
		return nil, nil, false
	}
	st, err := s.Manager.Store(sess.Stream)
	if err != nil {
		fragments.WriteError(w, err)
		return nil, nil, false
	}
	return sess, st, true
}

// deny answers 403 with the KVS error shape.
func (s *Server) deny(w http.ResponseWriter, msg string) {
	writeStatus(w, http.StatusForbidden, fragments.CodeNotAuthorized, msg)
}

// writeStatus answers an error with the KVS error shape and a status of
// the endpoint's own (HLS clients act on the status).
func writeStatus(w http.ResponseWriter, status int, code, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	_, _ = w.Write(b)
}

func (s *Server) master(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	entries, err := s.window(sess, st)
	if err != nil {
		fragments.WriteError(w, err)
		return
	}
	codecs, bw := "", 0
	if len(entries) > 0 {
		if id, err := st.InitOf(entries[len(entries)-1].Seq); err == nil {
			if init, err := st.Init(id); err == nil {
				codecs = fragments.CodecsString(init)
			}
		}
		var bytes, dur int64
		for _, e := range entries {
			bytes += e.Size
			dur += e.Duration
		}
		if dur > 0 {
			bw = int(float64(bytes*8) / (float64(dur) / 1e9))
		}
	}
	if bw == 0 {
		bw = 1_000_000
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n", sess.version())
	fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", bw)
	if codecs != "" {
		fmt.Fprintf(&b, ",CODECS=\"%s\"", codecs)
	}
	fmt.Fprintf(&b, "\n%s?SessionToken=%s\n", pathMedia, url.QueryEscape(r.URL.Query().Get("SessionToken")))
	writePlaylist(w, b.String())
}

func writePlaylist(w http.ResponseWriter, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = io.WriteString(w, body)
}

// window returns the fragments a media playlist lists now.
func (s *Server) window(sess *session, st *fragments.Store) ([]fragments.IndexEntry, error) {
	limit := int(sess.MaxResults)
	switch sess.Mode {
	case ModeLive:
		last, ok := st.Last()
		if !ok {
			return nil, nil
		}
		from := last.Seq - uint64(min(uint64(limit-1), last.Seq-1))
		from = max(from, sess.Anchor)
		entries, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Unix(0, math.MaxInt64), from, limit)
		return entries, err
	case ModeOnDemand:
		entries, _, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, sess.End), 0, limit)
		return entries, err
	}
	// LIVE_REPLAY: from Start, one more fragment each time the previous
	// one's duration has elapsed since the session began; the newest
	// MaxResults of those.
	end := sess.End
	if end == 0 {
		end = math.MaxInt64
	}
	elapsed := s.Now().UnixNano() - sess.Issued
	var out []fragments.IndexEntry
	var played int64
	from := uint64(0)
	for {
		page, next, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, end), from, 256)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if played > elapsed {
				return out, nil
			}
			out = append(out, e)
			if len(out) > limit {
				out = out[1:]
			}
			played += e.Duration
		}
		if next == 0 {
			return out, nil
		}
		from = next
	}
}

func (s *Server) media(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	if s.lowLatency(sess) {
		s.llMedia(w, r, sess, st)
		return
	}
	entries, err := s.window(sess, st)
	if err != nil {
		fragments.WriteError(w, err)
		return
	}
	tok := url.QueryEscape(r.URL.Query().Get("SessionToken"))
	body, err := s.mediaPlaylist(sess, st, s.stored(st, entries), tok, nil)
	if err != nil {
		fragments.WriteError(w, err)
		return
	}
	writePlaylist(w, body)
}

// segment is one media segment of a playlist: a stored fragment or, for
// LL-HLS, one being recorded, with its parts when they are still known.
type segment struct {
	e     fragments.IndexEntry
	init  fragments.InitID
	parts []*fragments.LivePart
	open  bool // still being recorded: listed as its parts only
}

// stored makes the segments of stored fragments.
func (s *Server) stored(st *fragments.Store, entries []fragments.IndexEntry) []segment {
	segs := make([]segment, 0, len(entries)+1)
	for _, e := range entries {
		id, err := st.InitOf(e.Seq) // no media read for known fragments
		if err != nil {
			continue // trimmed since listing
		}
		segs = append(segs, segment{e: e, init: id})
	}
	return segs
}

// mediaPlaylist writes an RFC 8216 media playlist of segs; ll adds the
// Low-Latency HLS tags (parts, preload hint, server control).
func (s *Server) mediaPlaylist(sess *session, st *fragments.Store, segs []segment, tok string, ll *llInfo) (string, error) {
	target := int64(1)
	var end int64 // the playlist's end, on the session's clock
	for _, g := range segs {
		target = max(target, int64(math.Round(float64(g.e.Duration)/1e9+0.4999)))
		end = max(end, sess.timeOf(&g.e)+g.e.Duration)
	}
	first := uint64(0)
	var d discState
	if len(segs) > 0 {
		first = segs[0].e.Seq
		var err error
		if d, err = s.discBefore(sess, st, first); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	b.Grow(256 + len(segs)*(160+len(tok)))
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", sess.version())
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	if ll != nil {
		// PART-HOLD-BACK: three part targets, as the specification advises.
		fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n", 3*ll.target.Seconds())
		fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.3f\n", ll.target.Seconds())
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", first)
	if d.count > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", d.count)
	}
	if sess.Mode == ModeOnDemand {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	prev, prevInit := d.prev, d.prevInit
	for i := range segs {
		g := &segs[i]
		newInit := prev != nil && g.init != prevInit
		if sess.discontinuity(prev, &g.e, newInit) {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if i == 0 || g.init != segs[i-1].init {
			// TS segments carry their own PAT/PMT and parameter sets.
			if sess.Container == ContainerFMP4 {
				fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"%s?SessionToken=%s&InitId=%s\"\n", pathInit, tok, g.init)
			}
		}
		prevInit = g.init
		if sess.ShowTime {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", time.Unix(0, sess.timeOf(&g.e)).UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		// Parts are listed for the last three target durations.
		if ll != nil && len(g.parts) > 0 && sess.timeOf(&g.e)+g.e.Duration >= end-3*target*int64(time.Second) {
			for _, p := range g.parts {
				fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.3f,URI=\"%s?SessionToken=%s&PartNumber=%d\"", float64(p.Duration)/1e9, pathPart, tok, p.Number)
				if p.Independent {
					b.WriteString(",INDEPENDENT=YES")
				}
				b.WriteByte('\n')
			}
		}
		if g.open {
			break // the last segment, still being recorded
		}
		seg := pathFrag
		if sess.Container == ContainerTS {
			seg = pathTS
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s?SessionToken=%s&FragmentNumber=%s\n", float64(g.e.Duration)/1e9, seg, tok, fragments.FragmentNumber(g.e.Seq))
		prev = &g.e
	}
	if ll != nil && ll.active {
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"%s?SessionToken=%s&PartNumber=%d\"\n", pathPart, tok, ll.next)
	}
	if sess.Mode == ModeOnDemand || (sess.Mode == ModeReplay && sess.End != 0 && len(segs) > 0 && s.replayDone(sess, st, segs[len(segs)-1].e)) {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String(), nil
}

// discontinuity reports whether a discontinuity tag goes before e.
func (sess *session) discontinuity(prev, e *fragments.IndexEntry, newInit bool) bool {
	if prev == nil {
		return false
	}
	switch sess.Disc {
	case DiscAlways:
		return true
	case DiscNever:
		return newInit // a new init segment always needs one (RFC 8216 §4.3.2.3)
	}
	gap := sess.timeOf(e) - (sess.timeOf(prev) + prev.Duration)
	return newInit || gap > int64(50*time.Millisecond) || gap < -int64(50*time.Millisecond)
}

// replayDone reports whether a LIVE_REPLAY session has listed its last fragment.
func (s *Server) replayDone(sess *session, st *fragments.Store, last fragments.IndexEntry) bool {
	more, _, err := st.List(sess.kind(), time.Unix(0, sess.Start), time.Unix(0, sess.End), last.Seq+1, 1)
	return err == nil && len(more) == 0
}

func (s *Server) init(w http.ResponseWriter, r *http.Request) {
	_, st, ok := s.open(w, r)
	if !ok {
		return
	}
	raw, err := hex.DecodeString(r.URL.Query().Get("InitId"))
	if err != nil || len(raw) != len(fragments.InitID{}) {
		fragments.WriteError(w, errf(fragments.CodeInvalidArgument, "InitId is invalid."))
		return
	}
	b, err := st.Init(fragments.InitID(raw))
	if err != nil {
		fragments.WriteError(w, errf(fragments.CodeNotFound, "The init segment is not found."))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func (s *Server) fragment(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	f, ok := sessionFragment(w, r, sess, st)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", time.Unix(0, f.ServerTime), bytes.NewReader(f.Media))
}

// sessionFragment reads the fragment a segment request names, if its
// session may read it; otherwise it answers the error.
func sessionFragment(w http.ResponseWriter, r *http.Request, sess *session, st *fragments.Store) (*fragments.Fragment, bool) {
	seq, ok := fragments.ParseFragmentNumber(r.URL.Query().Get("FragmentNumber"))
	if !ok {
		fragments.WriteError(w, errf(fragments.CodeInvalidArgument, "FragmentNumber is invalid."))
		return nil, false
	}
	e, ok := st.Lookup(seq)
	if !ok && sess.Mode == ModeLive && seq >= sess.Anchor {
		// An LL-HLS playlist lists a fragment as soon as its last part is
		// cut, a few milliseconds before it is durable: wait for that.
		live := st.Live()
		if v, _ := live.View(); v.Complete(seq) {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			live.Wait(ctx, func(v *fragments.LiveView) bool {
				_, ok := st.Lookup(seq)
				return ok || !v.Complete(seq)
			})
			cancel()
			e, ok = st.Lookup(seq)
		}
	}
	if !ok || !sess.covers(e) {
		fragments.WriteError(w, errf(fragments.CodeNotFound, "The fragment is not found in this session."))
		return nil, false
	}
	f, err := st.Read(seq)
	if err != nil {
		fragments.WriteError(w, errf(fragments.CodeNotFound, "The fragment is not found."))
		return nil, false
	}
	return f, true
}

// tsFragment serves getTSFragment.ts: the fragment converted to an
// MPEG-TS segment, for MPEG_TS sessions.
func (s *Server) tsFragment(w http.ResponseWriter, r *http.Request) {
	sess, st, ok := s.open(w, r)
	if !ok {
		return
	}
	if sess.Container != ContainerTS {
		fragments.WriteError(w, errf(fragments.CodeInvalidArgument, "getTSFragment.ts serves sessions with ContainerFormat MPEG_TS only."))
		return
	}
	f, ok := sessionFragment(w, r, sess, st)
	if !ok {
		return
	}
	init, err := st.Init(f.InitID)
	if err != nil {
		fragments.WriteError(w, errf(fragments.CodeNotFound, "The init segment of the fragment is not found."))
		return
	}
	seg, err := tsSegment(init, f.Media)
	if err != nil {
		s.Logger.Warn("MPEG-TS conversion failed", "component", "hls", "stream", sess.Stream, "fragment", fragments.FragmentNumber(f.Seq), "err", err)
		fragments.WriteError(w, errf(fragments.CodeUnsupportedMediaType, "The fragment cannot be packaged as MPEG-TS: %v.", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/mp2t")
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", time.Unix(0, f.ServerTime), bytes.NewReader(seg))
}

// version is the EXT-X-VERSION of a session's playlists (RFC 8216 §7):
// 7 for fMP4 segments (EXT-X-MAP without EXT-X-I-FRAMES-ONLY), 3 for TS
// (decimal EXTINF durations).
func (sess *session) version() int {
	if sess.Container == ContainerTS {
		return 3
	}
	return 7
}

// covers reports whether a session may read a fragment: its range for
// ON_DEMAND and LIVE_REPLAY, anything since the anchor for LIVE.
func (sess *session) covers(e fragments.IndexEntry) bool {
	if sess.Mode == ModeLive {
		return e.Seq >= sess.Anchor
	}
	t := sess.timeOf(&e)
	return t >= sess.Start && (sess.End == 0 || t <= sess.End)
}

// timeOf returns a fragment's time on the session's selector.
func (sess *session) timeOf(e *fragments.IndexEntry) int64 {
	if sess.Producer {
		return e.ProducerTime
	}
	return e.ServerTime
}
