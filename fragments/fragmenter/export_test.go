package fragmenter

import (
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/eddy-video/eddy/media"
)

// TrackCodec is the fMP4 codec the fragmenter writes a track with.
func TrackCodec(t media.Track) (mp4.Codec, error) {
	ft, err := newFragTrack(t)
	if err != nil || ft == nil {
		return nil, err
	}
	return ft.codec, nil
}
