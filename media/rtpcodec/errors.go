package rtpcodec

import "errors"

// ErrUnsupportedCodec is wrapped by UnsupportedCodecError.
var ErrUnsupportedCodec = errors.New("media: unsupported codec")

// ErrTooManyTracks refuses a publication with more than one video track or
// more than four audio tracks.
var ErrTooManyTracks = errors.New("media: too many tracks (at most 1 video and 4 audio)")

// UnsupportedCodecError names a codec Eddy does not ingest.
type UnsupportedCodecError struct {
	Codec  string
	Reason string // optional detail
}

func (e *UnsupportedCodecError) Error() string {
	msg := "unsupported codec " + e.Codec
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg + "; supported: H264, H265, VP8, VP9, AV1, AAC, Opus, G711"
}

// Unwrap makes errors.Is(err, ErrUnsupportedCodec) true.
func (e *UnsupportedCodecError) Unwrap() error { return ErrUnsupportedCodec }
