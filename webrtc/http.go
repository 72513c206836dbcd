package webrtc

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"
)

// maxSDP caps an offer or a trickle fragment.
const maxSDP = 64 << 10

// noticeHeader carries what the answer leaves out and why (also in the
// SDP's i= lines), for clients that show it.
const noticeHeader = "Eddy-Notice"

// Mount adds the WHEP and WHIP endpoints:
//
//	POST   /webrtc/{stream}/whep        SDP offer → 201 SDP answer + Location
//	POST   /webrtc/{stream}/whip
//	PATCH  /webrtc/{stream}/{kind}/{id} trickle ICE (application/trickle-ice-sdpfrag)
//	DELETE /webrtc/{stream}/{kind}/{id} end the session
//	OPTIONS on each, with CORS and the ICE servers as Link headers.
func (s *Server) Mount(r chi.Router) {
	r.Route("/webrtc/{stream}", func(r chi.Router) {
		r.Use(cors)
		r.Options("/{kind}", s.options)
		r.Post("/whep", s.postWHEP)
		r.Post("/whip", s.postWHIP)
		r.Options("/{kind}/{id}", s.options)
		r.Patch("/{kind}/{id}", s.patch)
		r.Delete("/{kind}/{id}", s.delete)
	})
}

func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "OPTIONS, POST, PATCH, DELETE")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
		h.Set("Access-Control-Expose-Headers", "Location, Link, ETag, Accept-Patch, WWW-Authenticate, "+noticeHeader)
		next.ServeHTTP(w, r)
	})
}

// linkHeaders lists the ICE servers (RFC 9725 §4.6); those with
// credentials only when withCredentials, so that TURN passwords go to
// authenticated clients alone.
func (s *Server) linkHeaders(w http.ResponseWriter, withCredentials bool) {
	for _, is := range s.ICEServers {
		if is.Username != "" && !withCredentials {
			continue
		}
		for _, u := range is.URLs {
			v := fmt.Sprintf("<%s>; rel=\"ice-server\"", u)
			if is.Username != "" {
				v += fmt.Sprintf("; username=%q; credential=%q; credential-type=\"password\"", is.Username, is.Credential)
			}
			w.Header().Add("Link", v)
		}
	}
}

func (s *Server) options(w http.ResponseWriter, r *http.Request) {
	kind := chi.URLParam(r, "kind")
	if kind != kindWHEP && kind != kindWHIP {
		http.NotFound(w, r)
		return
	}
	if chi.URLParam(r, "id") == "" {
		w.Header().Set("Accept-Post", "application/sdp")
		s.linkHeaders(w, s.optionsAuthorized(r, kind))
	} else {
		w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	}
	w.WriteHeader(http.StatusNoContent)
}

// optionsAuthorized reports whether an OPTIONS request may see the ICE
// servers' credentials: always without Authorize; with it, when the
// request carries a credential valid for the stream (a CORS preflight
// carries none, and is not counted as a failure).
func (s *Server) optionsAuthorized(r *http.Request, kind string) bool {
	if s.Authorize == nil {
		return true
	}
	if r.Header.Get("Authorization") == "" {
		return false
	}
	_, err := s.Authorize(r, actionOf(kind), chi.URLParam(r, "stream"))
	return err == nil
}

// httpError writes err as plain text with its status (400 for anything
// that is not an errRefused).
func (s *Server) httpError(w http.ResponseWriter, err error) {
	status, reason := http.StatusBadRequest, "bad_request"
	var rf *errRefused
	if errors.As(err, &rf) {
		status, reason = rf.status, rf.reason
	}
	s.refused.WithLabelValues(reason).Inc()
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	http.Error(w, err.Error(), status)
}

// readOffer validates the request of a POST and returns its SDP offer,
// both parsed (for checks with clear messages) and raw (for pion).
func (s *Server) readOffer(r *http.Request) (string, *sdp.SessionDescription, error) {
	name := chi.URLParam(r, "stream")
	if err := s.Registry.ValidateName(name); err != nil {
		return "", nil, refuse(400, "bad_name", "%v", err)
	}
	if err := checkType(r, "application/sdp"); err != nil {
		return "", nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSDP+1))
	if err != nil {
		return "", nil, refuse(400, "bad_sdp", "reading the offer: %v", err)
	}
	if len(body) > maxSDP {
		return "", nil, refuse(413, "bad_sdp", "SDP offer larger than %d bytes", maxSDP)
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(string(body)); err != nil {
		return "", nil, refuse(400, "bad_sdp", "malformed SDP offer: %v", err)
	}
	if len(desc.MediaDescriptions) == 0 {
		return "", nil, refuse(400, "bad_sdp", "the SDP offer has no media sections (m= lines)")
	}
	return string(body), &desc, nil
}

func checkType(r *http.Request, want string) error {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(ct, want) {
		return refuse(http.StatusUnsupportedMediaType, "bad_type", "Content-Type must be %s, not %q", want, r.Header.Get("Content-Type"))
	}
	return nil
}

// answer completes the negotiation of ss: sets the remote offer's answer
// as local description, waits for the host candidates (a few milliseconds;
// at most two seconds with TURN), and returns the answer SDP.
func (ss *session) answer() (string, error) {
	ans, err := ss.pc.CreateAnswer(nil)
	if err != nil {
		return "", refuse(400, "bad_sdp", "cannot answer the offer: %v", err)
	}
	gathered := pion.GatheringCompletePromise(ss.pc)
	if err := ss.pc.SetLocalDescription(ans); err != nil {
		return "", refuse(400, "bad_sdp", "cannot answer the offer: %v", err)
	}
	select {
	case <-gathered:
	case <-time.After(2 * time.Second):
	}
	return ss.pc.LocalDescription().SDP, nil
}

// answerOffer answers the offer desc of a session set up for it; when that
// fails it closes the session and answers the HTTP error.
func (s *Server) answerOffer(w http.ResponseWriter, ss *session, desc *sdp.SessionDescription) (string, bool) {
	ss.setRemoteUfrag(iceUfrag(desc))
	ans, err := ss.answer()
	if err != nil {
		ss.close("negotiation failed")
		s.httpError(w, err)
		return "", false
	}
	return ans, true
}

// respondCreated sends the 201 of a new session.
func (s *Server) respondCreated(w http.ResponseWriter, ss *session, answer string, notices []string) {
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", "/webrtc/"+ss.stream+"/"+ss.kind+"/"+ss.id)
	h.Set("ETag", `"`+ss.id+`"`)
	h.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	if len(notices) > 0 {
		h.Set(noticeHeader, strings.Join(notices, "; "))
	}
	s.linkHeaders(w, true) // the POST was authorized
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// patch takes trickle ICE candidates (RFC 8840 fragments). An ICE restart
// (new ufrag) is not supported: 422.
func (s *Server) patch(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.resource(w, r)
	if !ok || !s.authorizeResource(w, r, ss) {
		return
	}
	if err := checkType(r, "application/trickle-ice-sdpfrag"); err != nil {
		s.httpError(w, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSDP+1))
	if err != nil || len(body) > maxSDP {
		s.httpError(w, refuse(400, "bad_sdp", "trickle ICE fragment unreadable or larger than %d bytes", maxSDP))
		return
	}
	frag, err := parseFragment(string(body))
	if err != nil {
		s.httpError(w, refuse(400, "bad_sdp", "malformed trickle ICE fragment: %v", err))
		return
	}
	ss.mu.Lock()
	restart := frag.ufrag != "" && ss.remoteUfrag != "" && frag.ufrag != ss.remoteUfrag
	ss.mu.Unlock()
	if restart {
		s.httpError(w, refuse(http.StatusUnprocessableEntity, "ice_restart", "ICE restarts are not supported; end this session (DELETE) and create a new one"))
		return
	}
	for _, c := range frag.candidates {
		if err := ss.pc.AddICECandidate(c); err != nil {
			s.httpError(w, refuse(400, "bad_sdp", "candidate %q: %v", c.Candidate, err))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.resource(w, r)
	if !ok || !s.authorizeResource(w, r, ss) {
		return
	}
	ss.close("ended by the client (DELETE)")
	w.WriteHeader(http.StatusOK)
}

// resource finds the session of a PATCH or DELETE, answering 404 if none.
func (s *Server) resource(w http.ResponseWriter, r *http.Request) (*session, bool) {
	ss, ok := s.session(chi.URLParam(r, "id"))
	if !ok || ss.stream != chi.URLParam(r, "stream") || ss.kind != chi.URLParam(r, "kind") {
		http.Error(w, "no such WebRTC session (it ended, or never existed)", http.StatusNotFound)
		return nil, false
	}
	return ss, true
}

// fragment is a parsed application/trickle-ice-sdpfrag body.
type fragment struct {
	ufrag      string
	candidates []pion.ICECandidateInit
}

// parseFragment reads the ice-ufrag, the m= sections' mids and their
// candidates of a trickle ICE fragment (RFC 8840 section 9).
func parseFragment(body string) (*fragment, error) {
	f := &fragment{}
	mid, haveMid := "", false
	var mline uint16
	sections := -1
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "":
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"), strings.HasPrefix(line, "a=ice-options:"),
			line == "a=end-of-candidates", strings.HasPrefix(line, "a=group:"):
		case strings.HasPrefix(line, "m="):
			sections++
			mline = uint16(sections)
			mid, haveMid = "", false
		case strings.HasPrefix(line, "a=mid:"):
			mid, haveMid = strings.TrimPrefix(line, "a=mid:"), true
		case strings.HasPrefix(line, "a=candidate:"):
			if sections < 0 {
				return nil, errors.New("a candidate before any m= line")
			}
			c := pion.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a=")}
			if haveMid {
				m := mid
				c.SDPMid = &m
			} else {
				i := mline
				c.SDPMLineIndex = &i
			}
			f.candidates = append(f.candidates, c)
		case len(line) >= 2 && line[1] == '=':
			// other SDP lines are allowed and ignored
		default:
			return nil, fmt.Errorf("not an SDP line: %q", line)
		}
	}
	return f, nil
}

// iceUfrag returns the offer's ICE username fragment.
func iceUfrag(desc *sdp.SessionDescription) string {
	if v, ok := desc.Attribute("ice-ufrag"); ok {
		return v
	}
	for _, m := range desc.MediaDescriptions {
		if v, ok := m.Attribute("ice-ufrag"); ok {
			return v
		}
	}
	return ""
}

// withNotes adds an i= (media title, RFC 8866 5.4) line to the media
// sections of the answer named in notes (by mid), saying what is not sent
// and why; browsers ignore it, people and Eddy's UI read it.
func withNotes(answer string, notes map[string]string) string {
	if len(notes) == 0 {
		return answer
	}
	lines := strings.SplitAfter(answer, "\n")
	var b strings.Builder
	inMedia := false
	var section []string
	flush := func() {
		if !inMedia {
			for _, l := range section {
				b.WriteString(l)
			}
			section = section[:0]
			return
		}
		mid := ""
		for _, l := range section {
			if strings.HasPrefix(l, "a=mid:") {
				mid = strings.TrimSpace(strings.TrimPrefix(l, "a=mid:"))
			}
		}
		for i, l := range section {
			b.WriteString(l)
			if i == 0 && notes[mid] != "" {
				// i= comes right after m= (and before c=) in a media section.
				b.WriteString("i=" + notes[mid] + "\r\n")
			}
		}
		section = section[:0]
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			flush()
			inMedia = true
		}
		section = append(section, l)
	}
	flush()
	return b.String()
}
