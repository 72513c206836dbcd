package kvsapi

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/archive"
)

type timestampRange struct {
	StartTimestamp *Timestamp `json:"StartTimestamp"`
	EndTimestamp   *Timestamp `json:"EndTimestamp"`
}

type fragmentSelector struct {
	FragmentSelectorType string          `json:"FragmentSelectorType"`
	TimestampRange       *timestampRange `json:"TimestampRange"`
}

// selector validates a fragment selector and returns its time kind and range.
func (s *fragmentSelector) parse(field string) (fragments.IndexTime, time.Time, time.Time, error) {
	var kind fragments.IndexTime
	switch s.FragmentSelectorType {
	case "PRODUCER_TIMESTAMP":
		kind = fragments.IndexProducerTime
	case "SERVER_TIMESTAMP":
		kind = fragments.IndexServerTime
	default:
		return 0, time.Time{}, time.Time{}, Errorf(CodeInvalidArgument, "%s.FragmentSelectorType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.", field)
	}
	tr := s.TimestampRange
	if tr == nil || tr.StartTimestamp == nil || tr.EndTimestamp == nil {
		return 0, time.Time{}, time.Time{}, Errorf(CodeInvalidArgument, "%s.TimestampRange needs StartTimestamp and EndTimestamp.", field)
	}
	start, end := tr.StartTimestamp.Time, tr.EndTimestamp.Time
	if end.Before(start) {
		return 0, time.Time{}, time.Time{}, Errorf(CodeInvalidArgument, "EndTimestamp must not be before StartTimestamp.")
	}
	return kind, start, end, nil
}

// InclusiveEnd extends an end timestamp to the end of its millisecond:
// the wire carries milliseconds, so a fragment listed at t.123 must be
// found by a range ending at t.123 although it is stored in nanoseconds.
func InclusiveEnd(t time.Time) int64 {
	ns := t.UnixNano()
	if ns%1e6 == 0 {
		ns += 1e6 - 1
	}
	return ns
}

type listFragmentsIn struct {
	StreamRef
	MaxResults       *int64            `json:"MaxResults"`
	NextToken        *string           `json:"NextToken"`
	FragmentSelector *fragmentSelector `json:"FragmentSelector"`
}

type fragmentOut struct {
	FragmentNumber               string    `json:"FragmentNumber"`
	FragmentSizeInBytes          int64     `json:"FragmentSizeInBytes"`
	ProducerTimestamp            Timestamp `json:"ProducerTimestamp"`
	ServerTimestamp              Timestamp `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64     `json:"FragmentLengthInMilliseconds"`
}

type listFragmentsOut struct {
	Fragments []fragmentOut `json:"Fragments"`
	NextToken *string       `json:"NextToken,omitempty"`
}

// pageToken is what ListFragments' NextToken carries: the selector and
// where to resume. It is base64 of a fixed binary layout, so it matches
// the model's pattern [a-zA-Z0-9+/]+={0,2}.
type pageToken struct {
	Kind       fragments.IndexTime
	Start, End int64
	From       uint64
}

func (p pageToken) encode() string {
	b := make([]byte, 0, 1+8*3)
	b = append(b, byte(p.Kind))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Start))
	b = binary.BigEndian.AppendUint64(b, uint64(p.End))
	b = binary.BigEndian.AppendUint64(b, p.From)
	return base64.StdEncoding.EncodeToString(b)
}

func decodePageToken(s string) (pageToken, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 25 || (b[0] != byte(fragments.IndexServerTime) && b[0] != byte(fragments.IndexProducerTime)) {
		return pageToken{}, false
	}
	return pageToken{Kind: fragments.IndexTime(b[0]), Start: int64(binary.BigEndian.Uint64(b[1:])),
		End: int64(binary.BigEndian.Uint64(b[9:])), From: binary.BigEndian.Uint64(b[17:])}, true
}

func (a *API) listFragments(c *Call, in *listFragmentsIn) (any, error) {
	st, _, err := c.Archive(in.StreamRef)
	if err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, Errorf(CodeInvalidArgument, "MaxResults must be between 1 and 1000.")
		}
		limit = int(*in.MaxResults)
	}
	var p pageToken
	switch {
	case in.NextToken != nil:
		var ok bool
		if p, ok = decodePageToken(*in.NextToken); !ok {
			return nil, Errorf(CodeInvalidArgument, "NextToken is invalid.")
		}
	case in.FragmentSelector != nil:
		kind, start, end, err := in.FragmentSelector.parse("FragmentSelector")
		if err != nil {
			return nil, err
		}
		p = pageToken{Kind: kind, Start: start.UnixNano(), End: InclusiveEnd(end)}
	default:
		return nil, Errorf(CodeInvalidArgument, "FragmentSelector is required unless NextToken is given.")
	}
	entries, next, err := st.List(p.Kind, time.Unix(0, p.Start), time.Unix(0, p.End), p.From, limit)
	if err != nil {
		return nil, err
	}
	Consumed(c.R, 0, len(entries))
	out := &listFragmentsOut{Fragments: make([]fragmentOut, 0, len(entries))}
	for _, e := range entries {
		out.Fragments = append(out.Fragments, fragmentOut{
			FragmentNumber: fragments.FragmentNumber(e.Seq), FragmentSizeInBytes: e.Size,
			ProducerTimestamp:            Timestamp{Time: time.Unix(0, e.ProducerTime)},
			ServerTimestamp:              Timestamp{Time: time.Unix(0, e.ServerTime)},
			FragmentLengthInMilliseconds: e.Duration / 1e6,
		})
	}
	if next != 0 {
		p.From = next
		tok := p.encode()
		out.NextToken = &tok
	}
	return out, nil
}

// archiveRequest authenticates a request to operation op, decodes it
// into in and resolves its stream to a store that keeps data; when any of
// that fails it has answered the error.
func (a *API) archiveRequest(w http.ResponseWriter, r *http.Request, op string, in interface{ ref() StreamRef }) (*fragments.Store, bool) {
	c, ok := a.Guard.Begin(w, r, op, a.rv)
	if !ok {
		return nil, false
	}
	if err := c.Decode(in); err != nil {
		WriteError(w, err)
		return nil, false
	}
	st, _, err := c.Archive(in.ref())
	if err != nil {
		c.Fail(w, err)
		return nil, false
	}
	return st, true
}

type getMediaForFragmentListIn struct {
	StreamRef
	Fragments []string `json:"Fragments"`
}

// MKVContentType is the media type of GetMedia-style MKV answers.
const MKVContentType = "video/webm"

func (a *API) getMediaForFragmentList(w http.ResponseWriter, r *http.Request) {
	var in getMediaForFragmentListIn
	st, ok := a.archiveRequest(w, r, "GetMediaForFragmentList", &in)
	if !ok {
		return
	}
	if len(in.Fragments) < 1 || len(in.Fragments) > 1000 {
		WriteError(w, Errorf(CodeInvalidArgument, "Fragments must hold 1 to 1000 fragment numbers."))
		return
	}
	// Every number must name a retained fragment before any byte is sent.
	seqs := make([]uint64, len(in.Fragments))
	for i, s := range in.Fragments {
		seq, ok := fragments.ParseFragmentNumber(s)
		if ok {
			_, ok = st.Lookup(seq)
		}
		if !ok {
			WriteError(w, Errorf(CodeInvalidArgument, "Fragment numbers are invalid: %q is not a fragment of this stream.", s))
			return
		}
		seqs[i] = seq
	}
	w.Header().Set("Content-Type", MKVContentType)
	dw := a.Deadlines.Writer(w)
	bw := bufio.NewWriterSize(dw, 256<<10)
	if err := archive.WriteMKV(st, bw, seqs); err != nil {
		if !dw.Started() {
			// Nothing is out yet (the first 256 KiB are buffered): an
			// error, never an empty 200.
			w.Header().Del("Content-Type")
			WriteError(w, mediaError(err))
			return
		}
		// Bytes are out: the status cannot change any more. The answer
		// has no Content-Length, so ending the handler normally would end
		// it as if complete; aborting closes the HTTP/1 connection (or
		// resets the HTTP/2 stream), so that the client sees a cut answer.
		a.Logger.Warn("GetMediaForFragmentList stopped", "stream", st.Name(), "err", err)
		panic(http.ErrAbortHandler)
	}
	if bw.Flush() == nil {
		dw.Done()
		Consumed(r, len(seqs), 0)
	}
}

// MediaError is mediaError, for the browser's clip.
func MediaError(err error) error { return mediaError(err) }

// mediaError is the API error of a read that failed: a fragment that
// retention removed meanwhile is not found.
func mediaError(err error) error {
	if errors.Is(err, fragments.ErrFragmentNotFound) && !IsUnavailable(err) {
		return Errorf(CodeNotFound, "A requested fragment is no longer retained.")
	}
	return err
}

type clipSelector struct {
	FragmentSelectorType string          `json:"FragmentSelectorType"`
	TimestampRange       *timestampRange `json:"TimestampRange"`
}

type getClipIn struct {
	StreamRef
	ClipFragmentSelector *clipSelector `json:"ClipFragmentSelector"`
}

// Clip applies GetClip's rules for a range on kind's timeline (a span of
// at most 24 hours; a server-time range ends now at the latest; End is
// inclusive to its millisecond) and builds the clip of the fragments that
// start in it with archive.ClipRange, for GetClip (the browser's clip.mp4
// has no such limits: see archive.Export).
func Clip(st *fragments.Store, kind fragments.IndexTime, start, end, now time.Time) (*archive.Clip, error) {
	if end.Sub(start) > 24*time.Hour {
		return nil, Errorf(CodeInvalidArgument, "EndTimestamp must be within 24 hours of StartTimestamp.")
	}
	if kind == fragments.IndexServerTime && !end.Before(now) {
		end = now
	}
	return archive.ClipRange(st, kind, start, time.Unix(0, InclusiveEnd(end)))
}

func (a *API) getClip(w http.ResponseWriter, r *http.Request) {
	var in getClipIn
	st, ok := a.archiveRequest(w, r, "GetClip", &in)
	if !ok {
		return
	}
	if in.ClipFragmentSelector == nil {
		WriteError(w, Errorf(CodeInvalidArgument, "ClipFragmentSelector is required."))
		return
	}
	sel := fragmentSelector(*in.ClipFragmentSelector)
	kind, start, end, err := sel.parse("ClipFragmentSelector")
	if err != nil {
		WriteError(w, err)
		return
	}
	c, err := Clip(st, kind, start, end, a.Now())
	if err != nil {
		WriteError(w, mediaError(err))
		return
	}
	dw := a.Deadlines.Writer(w)
	if writeClip(dw, r, c) {
		dw.Done()
		Consumed(r, c.Fragments, 0)
	}
}
