package kvsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Event types of PutMedia acknowledgements (the Kinesis Video PutMedia
// API reference).
const (
	AckBuffering = "BUFFERING" // the first byte of a fragment arrived
	AckReceived  = "RECEIVED"  // the whole fragment arrived
	AckPersisted = "PERSISTED" // the fragment is durably stored
	AckError     = "ERROR"     // the fragment (or the session) failed: ErrorId, ErrorCode
	AckIdle      = "IDLE"      // keep-alive while no data arrives
)

// EmptyPayloadHash is what producers sign a PutMedia request with: the
// SHA-256 of no bytes (the KVS producer SDK signs the streaming body that
// way; it cannot hash what it has not sent yet).
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// MaxAckSize bounds one acknowledgement a reader accepts (KVS's producer
// library refuses acks over 1024 characters; this leaves room).
const MaxAckSize = 4096

// Timecode is the ack's FragmentTimecode, 0 when it has none.
func (a Ack) Timecode() int64 {
	if a.FragmentTimecode == nil {
		return 0
	}
	return *a.FragmentTimecode
}

// ErrBadAck is wrapped by AckReader.Next's errors for an ack that is no
// PutMedia acknowledgement (not JSON, no EventType, too long), as opposed
// to a failed read.
var ErrBadAck = errors.New("bad PutMedia acknowledgement")

// AckReader reads the acknowledgements of a PutMedia response body: JSON
// objects, newline-separated (or not: each object's end is found by
// parsing), each at most MaxAckSize bytes.
type AckReader struct {
	dec *json.Decoder
	lim *ackLimit
}

// NewAckReader reads the acks of body.
func NewAckReader(body io.Reader) *AckReader {
	lim := &ackLimit{r: body}
	return &AckReader{dec: json.NewDecoder(lim), lim: lim}
}

// Next returns the next ack and its JSON object exactly as the server
// sent it; io.EOF at the end of the body.
func (r *AckReader) Next() (Ack, []byte, error) {
	// The decoder reads only while the object is incomplete: allow it
	// MaxAckSize bytes past the end of the previous one.
	r.lim.left = r.dec.InputOffset() + MaxAckSize
	var raw json.RawMessage
	var ack Ack
	if err := r.dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return ack, nil, io.EOF
		}
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, errAckTooLong) {
			return ack, nil, fmt.Errorf("%w: %w", ErrBadAck, err)
		}
		return ack, nil, fmt.Errorf("reading a PutMedia acknowledgement: %w", err)
	}
	raw = bytes.Clone(raw)
	if err := json.Unmarshal(raw, &ack); err != nil {
		return ack, raw, fmt.Errorf("%w %s: %w", ErrBadAck, raw, err)
	}
	if ack.EventType == "" {
		return ack, raw, fmt.Errorf("%w: no EventType: %s", ErrBadAck, raw)
	}
	return ack, raw, nil
}

var errAckTooLong = fmt.Errorf("longer than %d bytes", MaxAckSize)

// ackLimit fails once more than left bytes were read (an endless object
// must not grow the decoder's buffer without bound).
type ackLimit struct {
	r    io.Reader
	left int64
	read int64
}

func (l *ackLimit) Read(p []byte) (int, error) {
	if l.read >= l.left {
		return 0, errAckTooLong
	}
	if int64(len(p)) > l.left-l.read {
		p = p[:l.left-l.read]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}
