package mkv

// Streaming Matroska muxer for Kinesis Video PutMedia uploads: what a KVS
// producer SDK sends on its one long POST /putMedia. Unlike the GetMedia
// documents of writer.go (one Segment per fragment), an upload is ONE
// Segment of unknown size that never ends:
//
//	EBML header (DocType "matroska")
//	Segment, unknown size
//	  Info{TimestampScale 1000000}
//	  Tracks
//	  [Tags]  Cluster{Timestamp, SimpleBlock...}   one per fragment (GOP)
//	  [Tags]  Cluster ...
//
// Each Cluster is one fragment and should start on a keyframe; the Tags
// before it are the fragment's metadata (the Kinesis Video PutMedia API
// reference; KVS's producer library writes them the same way). Clusters
// may have a known size or the unknown size producers use (RFC 8794 §6.2:
// the Cluster then ends at the next Tags or Cluster). The header and
// each cluster are separate byte strings so a producer can keep each
// cluster until it is acknowledged and send it again on a new connection
// after the header.

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Cluster is one fragment of a PutMedia upload.
type Cluster struct {
	// Timecode is the Cluster Timestamp: the producer time since the Unix
	// epoch (ABSOLUTE timecodes) or since the producer start timestamp
	// (RELATIVE). It is written in milliseconds (TimestampScale 1 ms).
	Timecode time.Duration
	// Frames in decode order, each Time relative to Timecode
	// ([-32768 ms, 32767 ms]); the first should be a keyframe.
	Frames []Frame
	// Tags are written as one Tags element before the Cluster: the
	// fragment's metadata.
	Tags []Tag
}

// AppendStreamHeader appends the start of an upload to b: the EBML header,
// the Segment of unknown size, Info (TimestampScale 1 ms, Title when not
// empty) and Tracks. Errors wrap ErrInvalidFragment; b is then returned
// unchanged.
func AppendStreamHeader(b []byte, title string, tracks []Track) ([]byte, error) {
	if err := mkvValidateTracks(tracks); err != nil {
		return b, err
	}
	if err := mkvValidateString("Title", title); err != nil {
		return b, err
	}
	w := mkvSliceWriter{b}
	e := mkvGetEncoder(&w)
	defer mkvPutEncoder(e)
	e.header(title, tracks)
	e.flush()
	return w.b, e.err
}

// AppendCluster appends one fragment of an upload whose Tracks are tracks:
// Tags (when c has some) and one Cluster, of known size, or of the unknown
// size when unknownSize is set. Times are rounded to milliseconds as
// WriteFragment does. Errors wrap ErrInvalidFragment; b is then returned
// unchanged.
func AppendCluster(b []byte, tracks []Track, c *Cluster, unknownSize bool) ([]byte, error) {
	if c == nil {
		return b, fmt.Errorf("%w: nil cluster", ErrInvalidFragment)
	}
	f := &Fragment{Tracks: tracks, Timecode: c.Timecode, Frames: c.Frames}
	if err := mkvValidateTags("Tags", c.Tags); err != nil {
		return b, err
	}
	clusterMs, clusterSize, err := mkvValidateFrames(f)
	if err != nil {
		return b, err
	}
	w := mkvSliceWriter{b}
	e := mkvGetEncoder(&w)
	defer mkvPutEncoder(e)
	e.tags(c.Tags)
	e.cluster(f, clusterMs, clusterSize, unknownSize)
	e.flush()
	return w.b, e.err
}

// StreamWriter writes one PutMedia upload to an io.Writer: the header
// before the first cluster, then each cluster as it comes. It refuses a
// cluster whose timecode is not after the previous one's (KVS answers
// those with FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS).
type StreamWriter struct {
	// UnknownSizeClusters writes every Cluster with the unknown size, as
	// the KVS producer SDKs do; otherwise Clusters have their size.
	UnknownSizeClusters bool

	w      io.Writer
	title  string
	tracks []Track
	header bool
	last   int64 // previous cluster timecode in ms; -1 before the first
	buf    []byte
}

// NewStreamWriter returns a writer of an upload with these tracks (and
// Info Title, when not empty). Nothing is written until the first
// WriteCluster.
func NewStreamWriter(w io.Writer, title string, tracks []Track) (*StreamWriter, error) {
	if err := mkvValidateTracks(tracks); err != nil {
		return nil, err
	}
	if err := mkvValidateString("Title", title); err != nil {
		return nil, err
	}
	return &StreamWriter{w: w, title: title, tracks: tracks, last: -1}, nil
}

// WriteCluster writes the header first if not yet written, then c. A
// cluster that fails validation writes nothing and leaves the writer
// usable; a write error is returned as is.
func (s *StreamWriter) WriteCluster(c *Cluster) error {
	if c == nil {
		return fmt.Errorf("%w: nil cluster", ErrInvalidFragment)
	}
	if ms := mkvMillis(c.Timecode); ms <= s.last {
		return fmt.Errorf("%w: cluster timecode %d ms is not after the previous %d ms", ErrInvalidFragment, ms, s.last)
	}
	b := s.buf[:0]
	if !s.header {
		var err error
		if b, err = AppendStreamHeader(b, s.title, s.tracks); err != nil {
			return err
		}
	}
	b, err := AppendCluster(b, s.tracks, c, s.UnknownSizeClusters)
	if err != nil {
		return err
	}
	s.buf = b
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	s.header, s.last = true, mkvMillis(c.Timecode)
	return nil
}

// mkvSliceWriter appends what is written to b.
type mkvSliceWriter struct{ b []byte }

func (w *mkvSliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// WAVEFORMATEX format tags of G.711 (Microsoft's RIFF registry), the
// A_MS/ACM tracks KVS producers send G.711 audio as.
const (
	WaveFormatALaw  = 0x0006
	WaveFormatMuLaw = 0x0007
)

// WaveFormatEx returns the CodecPrivate of an A_MS/ACM track (RFC 9559
// codec mapping "A_MS/ACM"): a little-endian WAVEFORMATEX of 18 bytes
// (wFormatTag, nChannels, nSamplesPerSec, nAvgBytesPerSec, nBlockAlign,
// wBitsPerSample, cbSize 0). G.711 is 8 bits per sample.
func WaveFormatEx(formatTag uint16, sampleRate, channels, bitsPerSample int) []byte {
	block := channels * bitsPerSample / 8
	b := make([]byte, 0, 18)
	b = binary.LittleEndian.AppendUint16(b, formatTag)
	b = binary.LittleEndian.AppendUint16(b, uint16(channels))
	b = binary.LittleEndian.AppendUint32(b, uint32(sampleRate))
	b = binary.LittleEndian.AppendUint32(b, uint32(sampleRate*block))
	b = binary.LittleEndian.AppendUint16(b, uint16(block))
	b = binary.LittleEndian.AppendUint16(b, uint16(bitsPerSample))
	return binary.LittleEndian.AppendUint16(b, 0)
}
