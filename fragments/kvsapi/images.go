package kvsapi

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsjson"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/media/netlimit"
)

// GetImages limits (the Kinesis Video GetImages API reference).
const (
	imagesMaxSpan         = 300 * time.Second
	imagesMinInterval     = 200 // ms
	imagesDefaultInterval = 3000
	imagesMaxWidth        = 3840
	imagesMaxHeight       = 2160
	imagesMaxResults      = 100
	imagesPageSize        = 25 // a page holds at most this many images
)

type getImagesIn struct {
	StreamRef
	ImageSelectorType string            `json:"ImageSelectorType"`
	StartTimestamp    *Timestamp        `json:"StartTimestamp"`
	EndTimestamp      *Timestamp        `json:"EndTimestamp"`
	SamplingInterval  *int64            `json:"SamplingInterval"`
	Format            string            `json:"Format"`
	FormatConfig      map[string]string `json:"FormatConfig"`
	WidthPixels       *int64            `json:"WidthPixels"`
	HeightPixels      *int64            `json:"HeightPixels"`
	MaxResults        *int64            `json:"MaxResults"`
	NextToken         *string           `json:"NextToken"`
}

type imageOut struct {
	TimeStamp    Timestamp `json:"TimeStamp"`
	Error        string    `json:"Error,omitempty"`
	ImageContent []byte    `json:"ImageContent,omitempty"` // base64 on the wire
}

// responseWriter is an answer that writes itself (handle calls it instead
// of encoding the answer as one JSON document).
type responseWriter interface {
	WriteResponse(w http.ResponseWriter)
}

type getImagesOut struct {
	Images    []imageOut         `json:"Images"`
	NextToken *string            `json:"NextToken,omitempty"`
	release   func()             // of the page's Admit slot
	deadlines netlimit.Deadlines // bound each write: a client that stops reading lets the slot go
}

// WriteResponse writes the page as JSON image by image, each image's
// base64 straight to w (not one buffer of the whole answer), dropping each
// image once written, then lets the page's slot go. Each write has the
// API's write deadline: a client that stops reading is cut and the slot
// freed.
func (o *getImagesOut) WriteResponse(w http.ResponseWriter) {
	defer o.release()
	w.Header().Set("Content-Type", "application/json")
	dw := o.deadlines.Writer(w)
	defer dw.Done()
	bw := bufio.NewWriterSize(dw, 32<<10)
	b := []byte(`{"Images":[`)
	for i := range o.Images {
		im := &o.Images[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = awsjson.AppendTimestamp(append(b, `{"TimeStamp":`...), im.TimeStamp.Time)
		if im.Error != "" {
			b = appendJSONString(append(b, `,"Error":`...), im.Error)
		}
		if len(im.ImageContent) > 0 {
			if _, err := bw.Write(append(b, `,"ImageContent":"`...)); err != nil {
				return // the client is gone
			}
			enc := base64.NewEncoder(base64.StdEncoding, bw)
			if _, err := enc.Write(im.ImageContent); err != nil {
				return
			}
			if err := enc.Close(); err != nil {
				return
			}
			im.ImageContent = nil
			b = append(b[:0], '"')
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if o.NextToken != nil {
		b = appendJSONString(append(b, `,"NextToken":`...), *o.NextToken)
	}
	if _, err := bw.Write(append(b, "}\n"...)); err == nil {
		_ = bw.Flush()
	}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	js, err := json.Marshal(s)
	if err != nil { // a string always marshals
		panic(err)
	}
	return append(b, js...)
}

// imagesQuery is a GetImages request as its pages share it: NextToken
// carries it whole, with the index of the page's first instant.
type imagesQuery struct {
	Kind       fragments.IndexTime
	Start, End int64 // Unix ns
	Interval   int64 // ms
	Spec       images.Spec
	Page       int    // images per page, 1–25
	Next       int    // index of the page's first sampling instant
	Stream     uint32 // CRC-32 of the stream name: a token is for one stream
}

// instants is the number of sampling instants: Start, Start+Interval, …
// up to End inclusive (one, at Start, when the span is shorter than the
// interval).
func (q *imagesQuery) instants() int {
	return int((q.End-q.Start)/(q.Interval*1e6)) + 1
}

func (a *API) getImages(c *Call, in *getImagesIn) (any, error) {
	q, err := parseImagesQuery(in)
	if err != nil {
		return nil, err
	}
	st, _, err := c.Archive(in.StreamRef)
	if err != nil {
		return nil, err
	}
	name := crc32.ChecksumIEEE([]byte(st.Name()))
	if in.NextToken != nil && q.Stream != name {
		return nil, Errorf(CodeInvalidArgument, "NextToken is invalid: it belongs to another stream.")
	}
	q.Stream = name
	if a.Images == nil {
		return nil, Errorf(CodeUnknownOperation, "GetImages is not enabled on this server.")
	}
	if err := a.Images.Available(); err != nil {
		return nil, Errorf(CodeUnknownOperation, "GetImages cannot decode images on this server: %v.", err)
	}
	n := q.instants()
	end := min(n, q.Next+q.Page)
	times := make([]time.Time, 0, end-q.Next)
	for k := q.Next; k < end; k++ {
		times = append(times, time.Unix(0, q.Start+int64(k)*q.Interval*1e6))
	}
	// A page holds its images (up to 25 of images.MaxImageSize) from the
	// decode until its answer is written: the Service admits a bounded
	// number at once; the others wait a little, then are told to retry.
	release, err := a.Images.Admit(c.R.Context())
	if errors.Is(err, images.ErrBusy) {
		return nil, Errorf(CodeClientLimit, "Too many GetImages requests are being served at once; retry later.")
	} else if err != nil {
		return nil, err // the client is gone: nothing is written
	}
	res := a.Images.Frames(c.R.Context(), st, q.Kind, times, q.Spec)
	if err := c.R.Context().Err(); err != nil {
		release()
		return nil, err // the client is gone: nothing is written
	}
	for _, r := range res {
		if IsUnavailable(r.Err) {
			// Cold media while the object store is out of reach: the
			// whole page is retried (503), not answered MEDIA_ERROR.
			release()
			return nil, r.Err
		}
	}
	out := &getImagesOut{Images: make([]imageOut, len(res)), release: release, deadlines: a.Deadlines}
	for i, r := range res {
		out.Images[i] = imageOut{TimeStamp: Timestamp{Time: r.Time}, ImageContent: r.Image}
		switch {
		case r.Err == nil:
		case errors.Is(r.Err, images.ErrNoMedia):
			out.Images[i].Error = "NO_MEDIA"
		default:
			if !errors.Is(r.Err, images.ErrMediaError) {
				a.Logger.Warn("GetImages could not make an image", "stream", st.Name(), "time", r.Time, "err", r.Err)
			}
			out.Images[i].Error = "MEDIA_ERROR"
		}
	}
	if end < n {
		q.Next = end
		tok := q.encode()
		out.NextToken = &tok
	}
	return out, nil
}

// parseImagesQuery validates a GetImages request, or reads its NextToken
// (which then stands for every other member but the stream).
func parseImagesQuery(in *getImagesIn) (*imagesQuery, error) {
	if in.NextToken != nil {
		q, ok := decodeImagesToken(*in.NextToken)
		if !ok {
			return nil, Errorf(CodeInvalidArgument, "NextToken is invalid.")
		}
		return q, nil
	}
	q := &imagesQuery{Interval: imagesDefaultInterval, Page: imagesPageSize}
	switch in.ImageSelectorType {
	case "PRODUCER_TIMESTAMP":
		q.Kind = fragments.IndexProducerTime
	case "SERVER_TIMESTAMP":
		q.Kind = fragments.IndexServerTime
	default:
		return nil, Errorf(CodeInvalidArgument, "ImageSelectorType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP.")
	}
	if in.StartTimestamp == nil || in.EndTimestamp == nil {
		return nil, Errorf(CodeInvalidArgument, "StartTimestamp and EndTimestamp are required.")
	}
	q.Start, q.End = in.StartTimestamp.UnixNano(), in.EndTimestamp.UnixNano()
	switch {
	case q.Start < 0:
		return nil, Errorf(CodeInvalidArgument, "StartTimestamp must not be before 1970.")
	case q.End < q.Start:
		return nil, Errorf(CodeInvalidArgument, "EndTimestamp must not be before StartTimestamp.")
	case q.End-q.Start > int64(imagesMaxSpan):
		return nil, Errorf(CodeInvalidArgument, "The time range between StartTimestamp and EndTimestamp must not be more than 300 seconds.")
	}
	if in.SamplingInterval != nil {
		if *in.SamplingInterval < imagesMinInterval || *in.SamplingInterval > int64(imagesMaxSpan/time.Millisecond) {
			return nil, Errorf(CodeInvalidArgument, "SamplingInterval must be between %d and %d milliseconds.", imagesMinInterval, imagesMaxSpan/time.Millisecond)
		}
		q.Interval = *in.SamplingInterval
	}
	if in.Format != "JPEG" && in.Format != "PNG" {
		return nil, Errorf(CodeInvalidArgument, "Format must be JPEG or PNG.")
	}
	q.Spec.Format = in.Format
	for k, v := range in.FormatConfig {
		if k != "JPEGQuality" {
			return nil, Errorf(CodeInvalidArgument, "FormatConfig key %q is not supported: the only key is JPEGQuality.", k)
		}
		quality, err := strconv.Atoi(v)
		if err != nil || quality < 1 || quality > 100 {
			return nil, Errorf(CodeInvalidArgument, "FormatConfig JPEGQuality must be an integer from 1 to 100, not %q.", v)
		}
		q.Spec.Quality = quality
	}
	if in.WidthPixels != nil {
		if *in.WidthPixels < 1 || *in.WidthPixels > imagesMaxWidth {
			return nil, Errorf(CodeInvalidArgument, "WidthPixels must be between 1 and %d.", imagesMaxWidth)
		}
		q.Spec.Width = int(*in.WidthPixels)
	}
	if in.HeightPixels != nil {
		if *in.HeightPixels < 1 || *in.HeightPixels > imagesMaxHeight {
			return nil, Errorf(CodeInvalidArgument, "HeightPixels must be between 1 and %d.", imagesMaxHeight)
		}
		q.Spec.Height = int(*in.HeightPixels)
	}
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > imagesMaxResults {
			return nil, Errorf(CodeInvalidArgument, "MaxResults must be between 1 and %d.", imagesMaxResults)
		}
		q.Page = int(min(*in.MaxResults, imagesPageSize))
	}
	return q, nil
}

// The NextToken layout (big-endian), base64 so that it matches the
// model's pattern [a-zA-Z0-9+/]+={0,2}:
//
//	version 1 | kind u8 | format u8 (0 JPEG, 1 PNG) | start ns i64 |
//	end ns i64 | interval ms u32 | width u16 | height u16 | quality u8 |
//	page u8 | next u32 | stream CRC-32 u32 | CRC-32C of all before u32
const (
	imagesTokenVersion = 1
	imagesTokenLen     = 1 + 1 + 1 + 8 + 8 + 4 + 2 + 2 + 1 + 1 + 4 + 4 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (q *imagesQuery) encode() string {
	b := make([]byte, 0, imagesTokenLen)
	format := byte(0)
	if q.Spec.Format == "PNG" {
		format = 1
	}
	b = append(b, imagesTokenVersion, byte(q.Kind), format)
	b = binary.BigEndian.AppendUint64(b, uint64(q.Start))
	b = binary.BigEndian.AppendUint64(b, uint64(q.End))
	b = binary.BigEndian.AppendUint32(b, uint32(q.Interval))
	b = binary.BigEndian.AppendUint16(b, uint16(q.Spec.Width))
	b = binary.BigEndian.AppendUint16(b, uint16(q.Spec.Height))
	b = append(b, byte(q.Spec.Quality), byte(q.Page))
	b = binary.BigEndian.AppendUint32(b, uint32(q.Next))
	b = binary.BigEndian.AppendUint32(b, q.Stream)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return base64.StdEncoding.EncodeToString(b)
}

// decodeImagesToken reads a NextToken, checking its checksum and that
// every member is one a request could have made.
func decodeImagesToken(s string) (*imagesQuery, bool) {
	// The decoder skips CR and LF even when strict: a token holding one
	// is not one this server wrote (tokens are canonical).
	if strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != imagesTokenLen || b[0] != imagesTokenVersion {
		return nil, false
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, false
	}
	q := &imagesQuery{Kind: fragments.IndexTime(b[1])}
	switch b[2] {
	case 0:
		q.Spec.Format = "JPEG"
	case 1:
		q.Spec.Format = "PNG"
	default:
		return nil, false
	}
	q.Start = int64(binary.BigEndian.Uint64(b[3:]))
	q.End = int64(binary.BigEndian.Uint64(b[11:]))
	q.Interval = int64(binary.BigEndian.Uint32(b[19:]))
	q.Spec.Width = int(binary.BigEndian.Uint16(b[23:]))
	q.Spec.Height = int(binary.BigEndian.Uint16(b[25:]))
	q.Spec.Quality = int(b[27])
	q.Page = int(b[28])
	q.Next = int(binary.BigEndian.Uint32(b[29:]))
	q.Stream = binary.BigEndian.Uint32(b[33:])
	ok := (q.Kind == fragments.IndexServerTime || q.Kind == fragments.IndexProducerTime) &&
		q.Start >= 0 && q.End >= q.Start && q.End-q.Start <= int64(imagesMaxSpan) &&
		q.Interval >= imagesMinInterval && q.Interval <= int64(imagesMaxSpan/time.Millisecond) &&
		q.Spec.Width <= imagesMaxWidth && q.Spec.Height <= imagesMaxHeight && q.Spec.Quality <= 100 &&
		q.Page >= 1 && q.Page <= imagesPageSize && q.Next >= 1 && q.Next < q.instants()
	return q, ok
}
