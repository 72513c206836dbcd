package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Service.
type Options struct {
	// FFmpeg is the path of the ffmpeg program; "" looks up "ffmpeg" in
	// PATH.
	FFmpeg string
	// Workers bounds the ffmpeg processes running at once (0: GOMAXPROCS).
	// A decode holds its GOPs' fragments in memory only while it holds
	// one of these slots.
	Workers int
	// Pages bounds the GetImages pages admitted at once (Admit): each
	// holds up to 25 images of at most MaxImage bytes until its answer
	// is written (0: 4).
	Pages int
	// PageWait is how long Admit waits for a page slot before it gives
	// up (0: 5 s).
	PageWait time.Duration
	// MaxImage is the largest image returned (0: MaxImageSize); a larger
	// one is MEDIA_ERROR.
	MaxImage int
	// Logger receives the decodes that fail (nil: slog.Default()).
	Logger *slog.Logger
	// Registerer, when set, receives the eddy_images_* series.
	Registerer prometheus.Registerer
}

// MaxImageSize is the largest image the Kinesis Video GetImages API
// returns (ImageContent is at most 6 MiB).
const MaxImageSize = 6 << 20

// Service decodes images of stored frames, one ffmpeg process per batch of
// GOPs, at most Workers processes at once. Its zero value is not usable:
// call New.
type Service struct {
	ffmpeg   string // resolved path; "" when unavailable
	missing  error  // why ffmpeg is unavailable
	slots    chan struct{}
	pages    chan struct{}
	pageWait time.Duration
	maxImage int
	log      *slog.Logger
	m        *metrics
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
	pages := o.Pages
	if pages <= 0 {
		pages = 4
	}
	s.pages = make(chan struct{}, pages)
	s.pageWait = o.PageWait
	if s.pageWait <= 0 {
		s.pageWait = 5 * time.Second
	}
	s.maxImage = o.MaxImage
	if s.maxImage <= 0 {
		s.maxImage = MaxImageSize
	}
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

// ErrBusy is Admit's answer when every page slot stayed taken for the
// Service's PageWait.
var ErrBusy = errors.New("images: too many image requests at once")

// Admit takes one of the Service's page slots for a request that decodes
// a page of images and holds them until its answer is written: it waits
// up to PageWait (or until ctx ends) and then fails with ErrBusy (or
// ctx's error). Call release once the answer is written.
func (s *Service) Admit(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(s.pageWait)
	defer t.Stop()
	select {
	case s.pages <- struct{}{}:
		return func() { <-s.pages }, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
