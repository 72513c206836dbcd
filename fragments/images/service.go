package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Service.
type Options struct {
	// FFmpeg is the path of the ffmpeg program; "" looks up "ffmpeg" in
	// PATH.
	FFmpeg string
	// Workers bounds the ffmpeg processes running at once (0: GOMAXPROCS).
	Workers int
	// Logger receives the decodes that fail (nil: slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the eddy_images_* series.
	Registerer prometheus.Registerer
}

// Service decodes images of stored frames with a bounded pool of ffmpeg
// processes. Its zero value is not usable: call New.
type Service struct {
	ffmpeg  string // resolved path; "" when unavailable
	missing error  // why ffmpeg is unavailable
	slots   chan struct{}
	log     *slog.Logger
	m       *metrics
}

// Per-image errors: the Kinesis Video GetImages error values.
var (
	// ErrNoMedia is NO_MEDIA: no fragment of the stream covers the time.
	ErrNoMedia = errors.New("NO_MEDIA")
	// ErrMediaError is MEDIA_ERROR: the media at the time cannot be
	// decoded (no video track, damaged data, a GOP without its keyframe).
	ErrMediaError = errors.New("MEDIA_ERROR")
)

// New returns a Service. It looks ffmpeg up once; without it the Service
// still works as a value whose Available says what to install.
func New(o Options) *Service {
	s := &Service{log: o.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "images")
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	s.slots = make(chan struct{}, workers)
	name := o.FFmpeg
	if name == "" {
		name = "ffmpeg"
	}
	if p, err := exec.LookPath(name); err != nil {
		s.missing = fmt.Errorf("decoding images needs FFmpeg: %q was not found (%v); install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or set its path", name, err)
	} else {
		s.ffmpeg = p
	}
	s.m = newMetrics(o.Registerer)
	return s
}

// Available returns nil when images can be decoded, else an error saying
// what to install.
func (s *Service) Available() error { return s.missing }

// acquire takes a worker slot, or fails when ctx ends first.
func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.slots }
