package fragments

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/kdsapi"
)

// API serves the Kinesis Video archived-media operations (restJson1,
// POST /listFragments, /getMediaForFragmentList, /getClip) and the
// browser clip endpoint GET /api/v1/streams/{name}/clip.mp4.
type API struct {
	Manager *Manager
	Logger  *slog.Logger
	Now     func() time.Time
}

// maxRequestBody bounds archived-media request bodies (1,000 fragment
// numbers of ≤128 characters fit easily).
const maxRequestBody = 1 << 20

// Mount adds the API's routes to r.
func (a *API) Mount(r chi.Router) {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	r.Post("/listFragments", a.listFragments)
	r.Post("/getMediaForFragmentList", a.getMediaForFragmentList)
	r.Post("/getClip", a.getClip)
	r.Get("/api/v1/streams/{name}/clip.mp4", a.clipMP4)
}

type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// resolve finds the store a request names by StreamName or StreamARN.
func (a *API) resolve(ref streamRef) (*Store, error) {
	name := ""
	switch {
	case ref.StreamARN != nil:
		n, ok := a.Manager.NameFromARN(*ref.StreamARN)
		if !ok {
			return nil, errf(CodeInvalidArgument, "StreamARN %s is not a valid Kinesis Video stream ARN.", *ref.StreamARN)
		}
		if ref.StreamName != nil && *ref.StreamName != n {
			return nil, errf(CodeInvalidArgument, "StreamName and StreamARN name different streams.")
		}
		name = n
	case ref.StreamName != nil:
		name = *ref.StreamName
		if !validName(name) {
			return nil, errf(CodeInvalidArgument, "StreamName %q is invalid: it must match [a-zA-Z0-9_.-]+ and be 1 to 256 characters long.", name)
		}
	default:
		return nil, errf(CodeInvalidArgument, "Either StreamName or StreamARN must be provided.")
	}
	d, err := a.Manager.Describe(name)
	if err != nil {
		return nil, err
	}
	if d.DataRetentionInHours == 0 {
		return nil, errf(CodeNoDataRetention, "The stream %s has a data retention of 0 hours: nothing is archived.", name)
	}
	return a.Manager.Store(name)
}

// decode reads a JSON request body into v.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return errf(CodeInvalidArgument, "Could not read the request body: %v.", err)
	}
	if len(body) > maxRequestBody {
		return errf(CodeInvalidArgument, "The request body is larger than %d bytes.", maxRequestBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(CodeInvalidArgument, "The request body is not valid JSON: %v.", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type timestampRange struct {
	StartTimestamp *kdsapi.Timestamp `json:"StartTimestamp"`
	EndTimestamp   *kdsapi.Timestamp `json:"EndTimestamp"`
}

type fragmentSelector struct {
	FragmentSelectorType string          `json:"FragmentSelectorType"`
	TimestampRange       *timestampRange `json:"TimestampRange"`
}

// selector validates a fragment selector and returns its time kind and range.
func (s *fragmentSelector) parse(field string) (IndexTime, time.Time, time.Time, error) {
	var kind IndexTime
	switch s.FragmentSelectorType {
	case "PRODUCER_TIMESTAMP":
		kind = IndexProducerTime
	case "SERVER_TIMESTAMP":
		kind = IndexServerTime
	default:
		return 0, time.Time{}, time.Time{}, errf(CodeInvalidArgument, "%s.FragmentSelectorType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.", field)
	}
	tr := s.TimestampRange
	if tr == nil || tr.StartTimestamp == nil || tr.EndTimestamp == nil {
		return 0, time.Time{}, time.Time{}, errf(CodeInvalidArgument, "%s.TimestampRange needs StartTimestamp and EndTimestamp.", field)
	}
	start, end := tr.StartTimestamp.Time, tr.EndTimestamp.Time
	if end.Before(start) {
		return 0, time.Time{}, time.Time{}, errf(CodeInvalidArgument, "EndTimestamp must not be before StartTimestamp.")
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
	streamRef
	MaxResults       *int64            `json:"MaxResults"`
	NextToken        *string           `json:"NextToken"`
	FragmentSelector *fragmentSelector `json:"FragmentSelector"`
}

type fragmentOut struct {
	FragmentNumber               string           `json:"FragmentNumber"`
	FragmentSizeInBytes          int64            `json:"FragmentSizeInBytes"`
	ProducerTimestamp            kdsapi.Timestamp `json:"ProducerTimestamp"`
	ServerTimestamp              kdsapi.Timestamp `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64            `json:"FragmentLengthInMilliseconds"`
}

type listFragmentsOut struct {
	Fragments []fragmentOut `json:"Fragments"`
	NextToken *string       `json:"NextToken,omitempty"`
}

// pageToken is what ListFragments' NextToken carries: the selector and
// where to resume. It is base64 of a fixed binary layout, so it matches
// the model's pattern [a-zA-Z0-9+/]+={0,2}.
type pageToken struct {
	Kind       IndexTime
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
	if err != nil || len(b) != 25 || (b[0] != byte(IndexServerTime) && b[0] != byte(IndexProducerTime)) {
		return pageToken{}, false
	}
	return pageToken{Kind: IndexTime(b[0]), Start: int64(binary.BigEndian.Uint64(b[1:])),
		End: int64(binary.BigEndian.Uint64(b[9:])), From: binary.BigEndian.Uint64(b[17:])}, true
}

func (a *API) listFragments(w http.ResponseWriter, r *http.Request) {
	var in listFragmentsIn
	if err := decode(r, &in); err != nil {
		WriteError(w, err)
		return
	}
	out, err := a.doListFragments(&in)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, out)
}

func (a *API) doListFragments(in *listFragmentsIn) (*listFragmentsOut, error) {
	st, err := a.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, errf(CodeInvalidArgument, "MaxResults must be between 1 and 1000.")
		}
		limit = int(*in.MaxResults)
	}
	var p pageToken
	switch {
	case in.NextToken != nil:
		var ok bool
		if p, ok = decodePageToken(*in.NextToken); !ok {
			return nil, errf(CodeInvalidArgument, "NextToken is invalid.")
		}
	case in.FragmentSelector != nil:
		kind, start, end, err := in.FragmentSelector.parse("FragmentSelector")
		if err != nil {
			return nil, err
		}
		p = pageToken{Kind: kind, Start: start.UnixNano(), End: InclusiveEnd(end)}
	default:
		return nil, errf(CodeInvalidArgument, "FragmentSelector is required unless NextToken is given.")
	}
	entries, next, err := st.List(p.Kind, time.Unix(0, p.Start), time.Unix(0, p.End), p.From, limit)
	if err != nil {
		return nil, err
	}
	out := &listFragmentsOut{Fragments: make([]fragmentOut, 0, len(entries))}
	for _, e := range entries {
		out.Fragments = append(out.Fragments, fragmentOut{
			FragmentNumber: FragmentNumber(e.Seq), FragmentSizeInBytes: e.Size,
			ProducerTimestamp:            kdsapi.Timestamp{Time: time.Unix(0, e.ProducerTime)},
			ServerTimestamp:              kdsapi.Timestamp{Time: time.Unix(0, e.ServerTime)},
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

type getMediaForFragmentListIn struct {
	streamRef
	Fragments []string `json:"Fragments"`
}

// MKVContentType is the media type of GetMedia-style MKV answers.
const MKVContentType = "video/webm"

func (a *API) getMediaForFragmentList(w http.ResponseWriter, r *http.Request) {
	var in getMediaForFragmentListIn
	if err := decode(r, &in); err != nil {
		WriteError(w, err)
		return
	}
	st, err := a.resolve(in.streamRef)
	if err != nil {
		WriteError(w, err)
		return
	}
	if len(in.Fragments) < 1 || len(in.Fragments) > 1000 {
		WriteError(w, errf(CodeInvalidArgument, "Fragments must hold 1 to 1000 fragment numbers."))
		return
	}
	// Every number must name a retained fragment before any byte is sent.
	seqs := make([]uint64, len(in.Fragments))
	for i, s := range in.Fragments {
		seq, ok := ParseFragmentNumber(s)
		if ok {
			_, ok = st.Lookup(seq)
		}
		if !ok {
			WriteError(w, errf(CodeInvalidArgument, "Fragment numbers are invalid: %q is not a fragment of this stream.", s))
			return
		}
		seqs[i] = seq
	}
	w.Header().Set("Content-Type", MKVContentType)
	bw := bufio.NewWriterSize(w, 256<<10)
	if err := st.WriteMKV(bw, seqs); err != nil {
		// Bytes may already be out: the status cannot change any more.
		a.Logger.Warn("GetMediaForFragmentList stopped", "stream", st.name, "err", err)
		return
	}
	_ = bw.Flush()
}

type clipSelector struct {
	FragmentSelectorType string          `json:"FragmentSelectorType"`
	TimestampRange       *timestampRange `json:"TimestampRange"`
}

type getClipIn struct {
	streamRef
	ClipFragmentSelector *clipSelector `json:"ClipFragmentSelector"`
}

// clip selects and builds the clip of [start, end] on kind's timeline:
// fragments that start in the range (KVS GetClip semantics: fragments
// starting before Start are left out, End is inclusive on fragment start).
func (a *API) clip(st *Store, kind IndexTime, start, end time.Time) (*Clip, error) {
	if end.Sub(start) > 24*time.Hour {
		return nil, errf(CodeInvalidArgument, "EndTimestamp must be within 24 hours of StartTimestamp.")
	}
	if kind == IndexServerTime && !end.Before(a.Now()) {
		end = a.Now()
	}
	var entries []IndexEntry
	from := uint64(0)
	end = time.Unix(0, InclusiveEnd(end))
	for len(entries) < MaxClipFragments {
		page, next, err := st.List(kind, start, end, from, MaxClipFragments-len(entries))
		if err != nil {
			return nil, err
		}
		entries = append(entries, page...)
		if next == 0 {
			break
		}
		from = next
	}
	if len(entries) == 0 {
		return nil, errf(CodeNotFound, "No fragments found in the stream for the clip request.")
	}
	return st.BuildClip(entries)
}

func (a *API) getClip(w http.ResponseWriter, r *http.Request) {
	var in getClipIn
	if err := decode(r, &in); err != nil {
		WriteError(w, err)
		return
	}
	st, err := a.resolve(in.streamRef)
	if err != nil {
		WriteError(w, err)
		return
	}
	if in.ClipFragmentSelector == nil {
		WriteError(w, errf(CodeInvalidArgument, "ClipFragmentSelector is required."))
		return
	}
	sel := fragmentSelector(*in.ClipFragmentSelector)
	kind, start, end, err := sel.parse("ClipFragmentSelector")
	if err != nil {
		WriteError(w, err)
		return
	}
	c, err := a.clip(st, kind, start, end)
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Length", fmt.Sprint(len(c.Bytes)))
	_, _ = w.Write(c.Bytes)
}

// clipMP4 serves GET /api/v1/streams/{name}/clip.mp4?start=RFC3339&end=RFC3339
// [&timestamps=producer|server]: the GetClip MP4 with Content-Length and
// HTTP Range (via http.ServeContent), so players can seek and download
// tools can resume. Errors are JSON in the Kinesis Video shape.
func (a *API) clipMP4(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	q := r.URL.Query()
	start, err1 := time.Parse(time.RFC3339Nano, q.Get("start"))
	end, err2 := time.Parse(time.RFC3339Nano, q.Get("end"))
	if err1 != nil || err2 != nil {
		WriteError(w, errf(CodeInvalidArgument, "start and end must be RFC 3339 times, e.g. 2026-01-02T15:04:05Z."))
		return
	}
	if end.Before(start) {
		WriteError(w, errf(CodeInvalidArgument, "end must not be before start."))
		return
	}
	kind := IndexProducerTime
	switch q.Get("timestamps") {
	case "", "producer":
	case "server":
		kind = IndexServerTime
	default:
		WriteError(w, errf(CodeInvalidArgument, "timestamps must be producer or server."))
		return
	}
	if !validName(name) {
		WriteError(w, errf(CodeInvalidArgument, "Stream name %q is invalid.", name))
		return
	}
	st, err := a.Manager.Store(name)
	if err != nil {
		WriteError(w, err)
		return
	}
	c, err := a.clip(st, kind, start, end)
	if err != nil {
		WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", fmt.Sprintf("inline; filename=%q", name+"-"+start.UTC().Format("20060102T150405Z")+".mp4"))
	http.ServeContent(w, r, "", c.Start, bytes.NewReader(c.Bytes))
}
