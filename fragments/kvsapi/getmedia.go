package kvsapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/mkv"
)

// GetMedia (POST /getMedia, the kinesis-video-media service) answers a
// stream of MKV documents, one per fragment, from a start selector on,
// and then follows the live edge: each fragment is written as soon as it
// is stored (Store.NextListed wakes the session; nothing polls), and the
// session moves from the archive to the live edge without a gap, since
// both are the same walk through fragment sequences.
//
// Start selectors:
//   - NOW: the next fragment to be stored, i.e. the one being recorded when
//     the request arrives (it began at most one fragment duration earlier),
//     then every later one.
//   - EARLIEST: the oldest fragment retention keeps.
//   - FRAGMENT_NUMBER: the fragment AfterFragmentNumber itself, then the
//     ones after it. The Kinesis Video API reference says both "the chunk
//     after" and "from where you want to start"; Eddy starts at it, so a
//     number from ListFragments replays that fragment, and resuming after
//     a fragment is what CONTINUATION_TOKEN does.
//   - SERVER_TIMESTAMP, PRODUCER_TIMESTAMP: the first fragment (in
//     fragment order) whose span on that clock contains StartTimestamp or
//     starts after it, waiting for one if none is stored yet.
//   - CONTINUATION_TOKEN: the fragment after the one whose
//     AWS_KINESISVIDEO_CONTINUATION_TOKEN tag the token is (the tag is the
//     fragment number), so a consumer that resumes with the last token it
//     read neither loses nor repeats a fragment.
//
// Each document carries AWS_KINESISVIDEO_FRAGMENT_NUMBER,
// AWS_KINESISVIDEO_SERVER_TIMESTAMP and AWS_KINESISVIDEO_PRODUCER_TIMESTAMP
// and the fragment's metadata (archive.MetadataTags: a PutMedia upload
// writes it before it stores the fragment, so a fragment is never listed
// before its metadata and nothing waits for it) before its Cluster, and
// AWS_KINESISVIDEO_MILLIS_BEHIND_NOW (now minus the fragment's server-side
// end) and AWS_KINESISVIDEO_CONTINUATION_TOKEN after it. When a session
// cannot go on it writes a last document of AWS_KINESISVIDEO_ERROR_CODE and
// AWS_KINESISVIDEO_ERROR_ID tags and ends: 4000 when the fragment it needs
// is not retained (a number or token older than retention, or a consumer
// that fell behind it), 5000 when a fragment cannot be read. A session ends
// without error tags when the client goes, when its stream is deleted, at
// the server's Shutdown, and after GetMediaSession (Kinesis Video ends its sessions after about 50
// minutes; the consumer resumes with the last continuation token).
const (
	// MaxGetMediaSessions is Kinesis Video's limit of concurrent GetMedia
	// sessions per stream; one more is refused with
	// ConnectionLimitExceededException.
	MaxGetMediaSessions = 3
	// DefaultGetMediaSession is how long a GetMedia session lasts at most.
	DefaultGetMediaSession = 50 * time.Minute
)

// The GetMedia error tag values (AWS_KINESISVIDEO_ERROR_ID as the GetMedia
// API reference numbers them; the codes are Eddy's wording of them).
const (
	GetMediaFragmentNotFound     = 4000
	GetMediaInternalError        = 5000
	getMediaFragmentNotFoundCode = "FRAGMENT_NOT_FOUND"
	getMediaInternalErrorCode    = "INTERNAL_ERROR"
)

type startSelector struct {
	StartSelectorType   *string    `json:"StartSelectorType"`
	AfterFragmentNumber *string    `json:"AfterFragmentNumber"`
	StartTimestamp      *Timestamp `json:"StartTimestamp"`
	ContinuationToken   *string    `json:"ContinuationToken"`
}

type getMediaIn struct {
	StreamRef
	StartSelector *startSelector `json:"StartSelector"`
}

// The model's patterns: FragmentNumberString and ContinuationToken.
var (
	fragmentNumberPattern    = regexp.MustCompile(`^[0-9]+$`)
	continuationTokenPattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
)

// mediaStart is a validated start selector.
type mediaStart struct {
	kind string
	seq  uint64    // FRAGMENT_NUMBER: the fragment; CONTINUATION_TOKEN: the last one read
	at   time.Time // the timestamp selectors
}

// parse validates a start selector as the service does: the type, and the
// member that type needs.
func (s *startSelector) parse() (mediaStart, error) {
	if s == nil {
		return mediaStart{}, Errorf(CodeInvalidArgument, "StartSelector is required.")
	}
	if s.StartSelectorType == nil {
		return mediaStart{}, Errorf(CodeInvalidArgument, "StartSelector.StartSelectorType is required.")
	}
	st := mediaStart{kind: *s.StartSelectorType}
	switch st.kind {
	case "NOW", "EARLIEST":
	case "FRAGMENT_NUMBER":
		if s.AfterFragmentNumber == nil {
			return st, Errorf(CodeInvalidArgument, "StartSelector.AfterFragmentNumber is required when StartSelectorType is FRAGMENT_NUMBER.")
		}
		n := *s.AfterFragmentNumber
		if len(n) < 1 || len(n) > 128 || !fragmentNumberPattern.MatchString(n) {
			return st, Errorf(CodeInvalidArgument, "StartSelector.AfterFragmentNumber %q is invalid: it must match [0-9]+ and be 1 to 128 characters long.", n)
		}
		seq, ok := fragments.ParseFragmentNumber(n)
		if !ok {
			return st, Errorf(CodeInvalidArgument, "StartSelector.AfterFragmentNumber %s is not a fragment number of this stream.", n)
		}
		st.seq = seq
	case "SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP":
		if s.StartTimestamp == nil {
			return st, Errorf(CodeInvalidArgument, "StartSelector.StartTimestamp is required when StartSelectorType is %s.", st.kind)
		}
		st.at = s.StartTimestamp.Time
	case "CONTINUATION_TOKEN":
		if s.ContinuationToken == nil {
			return st, Errorf(CodeInvalidArgument, "StartSelector.ContinuationToken is required when StartSelectorType is CONTINUATION_TOKEN.")
		}
		tok := *s.ContinuationToken
		if len(tok) < 1 || len(tok) > 128 || !continuationTokenPattern.MatchString(tok) {
			return st, Errorf(CodeInvalidArgument, "StartSelector.ContinuationToken %q is invalid: it must match [a-zA-Z0-9_.-]+ and be 1 to 128 characters long.", tok)
		}
		seq, ok := fragments.ParseFragmentNumber(tok)
		if !ok {
			return st, Errorf(CodeInvalidArgument, "StartSelector.ContinuationToken %s is not a continuation token of this stream.", tok)
		}
		st.seq = seq
	default:
		return st, Errorf(CodeInvalidArgument, "StartSelector.StartSelectorType %q is invalid: it must be one of NOW, EARLIEST, FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP, CONTINUATION_TOKEN.", st.kind)
	}
	return st, nil
}

// mediaSessions counts the GetMedia sessions of each stream.
type mediaSessions struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire takes one of the stream's session slots; release gives it back.
func (s *mediaSessions) acquire(name string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == nil {
		s.n = map[string]int{}
	}
	if s.n[name] >= MaxGetMediaSessions {
		return nil, false
	}
	s.n[name]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.n[name]--; s.n[name] == 0 {
			delete(s.n, name)
		}
	}, true
}

func (a *API) serveGetMedia(w http.ResponseWriter, r *http.Request) {
	c, ok := a.Guard.Begin(w, r, "GetMedia", a.rv)
	if !ok {
		return
	}
	var in getMediaIn
	if err := c.Decode(&in); err != nil {
		WriteError(w, err)
		return
	}
	start, err := in.StartSelector.parse()
	if err != nil {
		WriteError(w, err)
		return
	}
	st, _, err := c.Archive(in.StreamRef)
	if err != nil {
		c.Fail(w, err)
		return
	}
	release, ok := a.getMedia.acquire(st.Name())
	if !ok {
		WriteError(w, Errorf(CodeConnectionLimit, "The stream %s already has %d GetMedia connections, the most it allows.", st.Name(), MaxGetMediaSessions))
		return
	}
	defer release()
	metrics := a.Metrics.getMediaOf()
	label := metrics.begin(a.Metrics, st.Name())
	reason := a.getMediaSession(w, r, st, start)
	metrics.end(label, reason)
}

// Why a GetMedia session ended (the reason label of its metric).
const (
	endClient  = "client"         // the client went (or a write failed)
	endLimit   = "session_limit"  // GetMediaSession
	endDeleted = "stream_deleted" // the stream was deleted (its store closed)
	endError   = "error"          // error tags were sent
	endStop    = "shutdown"       // the server is stopping (Shutdown)
)

// whyEnded tells why a session's context ended: the client went, the
// server is stopping, or the session cap.
func (a *API) whyEnded(r *http.Request) string {
	switch {
	case r.Context().Err() != nil:
		return endClient
	case a.stopping.Err() != nil:
		return endStop
	}
	return endLimit
}

// errWriter remembers the first write error, so that a failed write (the
// client went) is told apart from a fragment that could not be read.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

// getMediaSession answers 200 and writes fragments from start on until
// the session ends; it returns why it ended.
func (a *API) getMediaSession(w http.ResponseWriter, r *http.Request, st *fragments.Store, start mediaStart) string {
	limit := a.GetMediaSession
	if limit <= 0 {
		limit = DefaultGetMediaSession
	}
	ctx, cancel := context.WithTimeout(r.Context(), limit)
	defer cancel()
	defer context.AfterFunc(a.stopping, cancel)()

	w.Header().Set("Content-Type", MKVContentType)
	dw := a.Deadlines.Writer(w)
	// The last write's deadline would outlive it: the end of the answer
	// (after the session cap, say, at an idle live edge) gets a fresh one.
	defer dw.Done()
	rc := http.NewResponseController(dw)
	dw.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return endClient
	}
	ew := &errWriter{w: dw}
	bw := bufio.NewWriterSize(ew, 64<<10)
	mw := archive.NewMKVWriter(st)
	fail := func(id int, code string) string {
		if err := mkv.WriteTagsDocument(bw, mw.Tracks(), mkv.ErrorTags(code, id)); err == nil && bw.Flush() == nil {
			_ = rc.Flush()
		}
		return endError
	}

	var cursor uint64
	var filter func(e *fragments.IndexEntry) bool // skips fragments before a timestamp
	switch start.kind {
	case "NOW":
		cursor = st.NextSeq()
	case "EARLIEST":
		cursor = st.FirstSeq()
	case "FRAGMENT_NUMBER", "CONTINUATION_TOKEN":
		cursor = start.seq
		if start.kind == "CONTINUATION_TOKEN" {
			cursor++
		}
		// A number the stream has not reached is no fragment of it (a
		// token follows the last fragment read, so it may be the next).
		if cursor > st.NextSeq() || (start.kind == "FRAGMENT_NUMBER" && cursor == st.NextSeq()) {
			return fail(GetMediaFragmentNotFound, getMediaFragmentNotFoundCode)
		}
	case "SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP":
		kind := fragments.IndexServerTime
		if start.kind == "PRODUCER_TIMESTAMP" {
			kind = fragments.IndexProducerTime
		}
		at := start.at.UnixNano()
		filter = func(e *fragments.IndexEntry) bool {
			t := e.ServerTime
			if kind == fragments.IndexProducerTime {
				t = e.ProducerTime
			}
			return t+max(e.Duration, 1) > at
		}
		cursor = timestampStart(st, kind, start.at)
	}

	for {
		e, err := st.NextListed(ctx, cursor)
		switch {
		case ctx.Err() != nil:
			return a.whyEnded(r)
		case errors.Is(err, fragments.ErrStoreClosed):
			return endDeleted
		case errors.Is(err, fragments.ErrFragmentNotFound):
			return fail(GetMediaFragmentNotFound, getMediaFragmentNotFoundCode)
		case err != nil:
			a.Logger.Warn("GetMedia stopped", "stream", st.Name(), "err", err)
			return fail(GetMediaInternalError, getMediaInternalErrorCode)
		}
		cursor = e.Seq + 1
		if filter != nil {
			if !filter(&e) {
				continue
			}
			filter = nil // from the first match on, every fragment
		}
		behind := max(a.Now().Sub(time.Unix(0, e.ServerTime+e.Duration)).Milliseconds(), 0)
		post := []mkv.Tag{
			{Name: mkv.TagMillisBehindNow, Value: strconv.FormatInt(behind, 10)},
			{Name: mkv.TagContinuationToken, Value: fragments.FragmentNumber(e.Seq)},
		}
		err = mw.Write(bw, e.Seq, post)
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = rc.Flush()
		}
		switch {
		case ew.err != nil || (err != nil && ctx.Err() != nil):
			return a.whyEnded(r)
		case errors.Is(err, fragments.ErrFragmentNotFound):
			return fail(GetMediaFragmentNotFound, getMediaFragmentNotFoundCode)
		case err != nil:
			if r.Context().Err() != nil {
				return endClient
			}
			if IsUnavailable(err) {
				// Cold, the object store out of reach (the tier logs
				// the outage): the consumer resumes with the last
				// continuation token.
				a.Logger.Info("GetMedia stopped: object storage unavailable", "stream", st.Name(), "fragment", fragments.FragmentNumber(e.Seq))
				return fail(GetMediaInternalError, getMediaInternalErrorCode)
			}
			a.Logger.Warn("GetMedia stopped", "stream", st.Name(), "fragment", fragments.FragmentNumber(e.Seq), "err", err)
			return fail(GetMediaInternalError, getMediaInternalErrorCode)
		}
		Consumed(r, 1, 0)
	}
}

// timestampStart is where a timestamp selector's walk begins: the first
// fragment, in fragment order, that starts at most the longest fragment
// before at on kind's clock (the walk then skips those that end before
// at), or the next fragment to be stored when none does.
func timestampStart(st *fragments.Store, kind fragments.IndexTime, at time.Time) uint64 {
	const longest = 60 * time.Second // what a read accepts (fragments of earlier releases)
	entries, _, err := st.List(kind, at.Add(-longest), time.Unix(0, 1<<62), 0, 1)
	if err != nil || len(entries) == 0 {
		return st.NextSeq()
	}
	return entries[0].Seq
}
