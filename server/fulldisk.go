package server

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/media"
)

// FreeSpace is storage.min_free: a share of the data directory's
// filesystem ("5%") or a size ("10GB", "512MiB"); "0" turns the floor off.
type FreeSpace datastreams.FreeSpace

// maxMinFreePercent bounds a percentage floor: above it retention would
// keep most of the disk empty, which is a typo rather than a wish.
const maxMinFreePercent = 90

// ParseFreeSpace parses a FreeSpace.
func ParseFreeSpace(v string) (FreeSpace, error) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "%"); ok {
		p, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil || p < 0 || p > maxMinFreePercent {
			return FreeSpace{}, fmt.Errorf("free space %q: want a percentage from 0%% to %d%%", v, maxMinFreePercent)
		}
		return FreeSpace{Percent: p}, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return FreeSpace{}, fmt.Errorf("free space %q: use a percentage of the filesystem (5%%) or a size (10GB, 512MiB)", v)
	}
	return FreeSpace{Bytes: int64(n)}, nil
}

func (f FreeSpace) String() string {
	if f.Percent > 0 {
		return strconv.FormatFloat(f.Percent, 'f', -1, 64) + "%"
	}
	return Size(f.Bytes).String()
}

// Set implements flag.Value.
func (f *FreeSpace) Set(v string) error {
	p, err := ParseFreeSpace(v)
	if err == nil {
		*f = p
	}
	return err
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (f *FreeSpace) UnmarshalYAML(n *yaml.Node) error { return f.Set(n.Value) }

// endRecording ends a publication whose recording failed (a full disk):
// through the registry when it is still the current publication of its
// name, so its publisher (RTSP session, WHIP session, pulled source) is
// told and reconnects, and records again once the store takes fragments.
func (s *Server) endRecording(name string, h *media.Hub, reason error) {
	if !s.registry.EndHub(name, h, reason) {
		h.End(reason) // no longer current: ends its own readers only
	}
}
