package rtpcodec

import (
	"log/slog"
	"sync/atomic"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"

	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/internal/loglimit"
)

// Limits on the tracks of one publication.
const (
	maxVideoTracks = 1
	maxAudioTracks = 4
)

// IngestTrack is one track of an RTP ingest: the media and format it
// comes from and its decoder.
type IngestTrack struct {
	// Media and Format are what the session delivers the track's packets
	// with (OnPacketRTP).
	Media   *description.Media
	Format  format.Format
	dec     *rtpDecoder
	clock   srClock
	skipped atomic.Int64 // malformed packets or units skipped
	limiter loglimit.Limiter

	// The PTS of the last packet (see Ingest.packetPTS); used by the
	// track's goroutine only.
	started bool // the timer gave this track a PTS
	lastTS  uint32
	lastPTS int64
}

// SelectTracks picks one supported format per media. With strict (a
// publisher's ANNOUNCE), an unsupported media or too many tracks is an
// error; otherwise (a pulled camera) such medias are skipped and logged.
func SelectTracks(medias []*description.Media, strict bool, log *slog.Logger) ([]*IngestTrack, error) {
	var tracks []*IngestTrack
	video, audio := 0, 0
	for _, m := range medias {
		if m.IsBackChannel {
			continue
		}
		var it *IngestTrack
		var lastErr error
		for _, f := range m.Formats {
			d, err := newRTPDecoder(len(tracks), f)
			if err != nil {
				lastErr = err
				continue
			}
			it = &IngestTrack{Media: m, Format: f, dec: d}
			break
		}
		if it == nil {
			if lastErr == nil {
				lastErr = &UnsupportedCodecError{Codec: string(m.Type) + " media without formats"}
			}
			if strict {
				return nil, lastErr
			}
			log.Warn("skipping media", "media", m.Type, "error", lastErr)
			continue
		}
		over := false
		if it.dec.track.Kind == media.Video {
			video++
			over = video > maxVideoTracks
		} else {
			audio++
			over = audio > maxAudioTracks
		}
		if over {
			if strict {
				return nil, ErrTooManyTracks
			}
			log.Warn("skipping media", "media", m.Type, "error", ErrTooManyTracks)
			continue
		}
		tracks = append(tracks, it)
	}
	if len(tracks) == 0 {
		return nil, &UnsupportedCodecError{Codec: "(none)", Reason: "no supported track"}
	}
	return tracks, nil
}

// TracksOf returns the tracks of an ingest, to publish.
func TracksOf(tracks []*IngestTrack) []media.Track {
	out := make([]media.Track, len(tracks))
	for i, it := range tracks {
		out[i] = it.dec.track
	}
	return out
}
