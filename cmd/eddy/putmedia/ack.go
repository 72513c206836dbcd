package putmedia

import (
	"encoding/json"
	"fmt"
	"io"
)

// Event types of PutMedia acknowledgements (the Kinesis Video PutMedia
// API reference).
const (
	EventBuffering = "BUFFERING" // the first byte of a fragment arrived
	EventReceived  = "RECEIVED"  // the whole fragment arrived
	EventPersisted = "PERSISTED" // the fragment is durably stored
	EventError     = "ERROR"     // the fragment (or the session) failed: ErrorId, ErrorCode
	EventIdle      = "IDLE"      // keep-alive while no data arrives
)

// Ack is one acknowledgement the server streams back on a PutMedia
// connection: one JSON object per line, with these keys (named as on the
// wire).
type Ack struct {
	EventType string
	// FragmentTimecode is the cluster's timecode in ms, as it was sent
	// (relative to the producer start timestamp with RELATIVE timecodes).
	FragmentTimecode int64
	// FragmentNumber is the 47-digit number ListFragments shows.
	FragmentNumber string `json:",omitempty"`
	ErrorId        int    `json:",omitempty"` // the wire's spelling (not ErrorID)
	ErrorCode      string `json:",omitempty"`
}

// String formats the ack as `eddy putmedia` prints it.
func (a Ack) String() string {
	s := a.EventType
	if a.EventType != EventIdle {
		s += fmt.Sprintf(" timecode=%d", a.FragmentTimecode)
	}
	if a.FragmentNumber != "" {
		s += " fragment=" + a.FragmentNumber
	}
	if a.EventType == EventError || a.ErrorId != 0 {
		s += fmt.Sprintf(" error=%d %s", a.ErrorId, a.ErrorCode)
	}
	return s
}

// maxAckSize bounds one acknowledgement (KVS's producer library refuses
// acks over 1024 characters; leave room).
const maxAckSize = 4096

// ackReader reads the acknowledgements of a response body: JSON objects,
// newline-separated (or not: the decoder finds each object's end).
type ackReader struct {
	dec *json.Decoder
	lim *limitedReader
}

func newAckReader(r io.Reader) *ackReader {
	lim := &limitedReader{r: r}
	return &ackReader{dec: json.NewDecoder(lim), lim: lim}
}

// next returns the next ack, io.EOF at the end of the body.
func (a *ackReader) next() (Ack, error) {
	// The decoder reads only while the object is incomplete: allow it
	// maxAckSize bytes past the end of the previous one.
	a.lim.left = a.dec.InputOffset() + maxAckSize
	var ack Ack
	if err := a.dec.Decode(&ack); err != nil {
		if err == io.EOF {
			return ack, io.EOF
		}
		return ack, fmt.Errorf("putmedia: reading an acknowledgement: %w", err)
	}
	if ack.EventType == "" {
		return ack, fmt.Errorf("putmedia: acknowledgement without EventType")
	}
	return ack, nil
}

// limitedReader fails once more than left bytes were read (an endless
// object must not grow the decoder's buffer without bound).
type limitedReader struct {
	r    io.Reader
	left int64
	read int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.read >= l.left {
		return 0, fmt.Errorf("putmedia: acknowledgement longer than %d bytes", maxAckSize)
	}
	if int64(len(p)) > l.left-l.read {
		p = p[:l.left-l.read]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}
