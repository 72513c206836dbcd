package putmedia

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"

	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/rtpcodec"
	"github.com/eddy-video/eddy/media/rtsp"
	"github.com/eddy-video/eddy/media/rtspclient"
)

// frame is one unit of a source, ready for a cluster.
type frame struct {
	track int       // index into the source's tracks
	at    time.Time // producer time of its presentation
	key   bool
	data  []byte // Matroska block payload
}

// source reads access units from a file or a camera.
type source interface {
	// tracks are the Matroska tracks of the frames (numbered from 1, in
	// index order); known after the first next.
	tracks() []mkv.Track
	// next returns the next frame in decode order, io.EOF at the end, or
	// errNewTracks when the tracks changed (a camera that reconnected
	// with other codecs): tracks then has the new ones and the frame is
	// their first.
	next(ctx context.Context) (frame, error)
	close()
}

var errNewTracks = errors.New("putmedia: the source's tracks changed")

// openSource opens a file (MP4 or Matroska, told apart by their first
// bytes) or an rtsp:// or rtsps:// URL. Files are read in real time, as
// a camera sends, from start.
func openSource(src string, loop bool, start time.Time, pace pacer, log *slog.Logger) (source, error) {
	if strings.HasPrefix(src, "rtsp://") || strings.HasPrefix(src, "rtsps://") {
		return openRTSP(src, log)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("putmedia: source: %w", err)
	}
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("putmedia: source %s: %w", src, err)
	}
	if magic == [4]byte{0x1A, 0x45, 0xDF, 0xA3} { // EBML header
		return openMKV(src, loop, start, pace)
	}
	return openMP4(src, loop, start, pace, log)
}

// pacer waits until a frame's time comes (a file is sent as a camera
// would), or ctx ends.
type pacer func(ctx context.Context, at time.Time) error

// realTime is the pacer of files: it waits until at.
func realTime(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// mp4Source reads an MP4 file with the reader of media/rtspclient's
// FilePublisher (the reader `eddy publish` uses).
type mp4Source struct {
	samples []rtspclient.Sample
	index   map[*description.Media]int
	video   []bool
	mtracks []mkv.Track
	span    time.Duration
	loop    bool
	start   time.Time
	pace    pacer
	pass, i int
}

func openMP4(path string, loop bool, start time.Time, pace pacer, log *slog.Logger) (*mp4Source, error) {
	fp := &rtspclient.FilePublisher{File: path}
	if err := fp.Load(); err != nil {
		return nil, fmt.Errorf("putmedia: source: %w", err)
	}
	its, err := rtpcodec.SelectTracks(fp.Medias(), false, log)
	if err != nil {
		return nil, fmt.Errorf("putmedia: source %s: %w", path, err)
	}
	s := &mp4Source{samples: fp.Samples(), index: map[*description.Media]int{}, span: fp.Span(), loop: loop, start: start, pace: pace}
	tracks := rtpcodec.TracksOf(its)
	for i, it := range its {
		s.index[it.Media] = i
		mt, err := mkvTrack(tracks[i], uint64(i+1), nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		s.mtracks = append(s.mtracks, mt)
		s.video = append(s.video, tracks[i].Kind == media.Video)
	}
	if len(s.samples) == 0 || s.span <= 0 {
		return nil, fmt.Errorf("putmedia: source %s: no samples", path)
	}
	return s, nil
}

func (s *mp4Source) tracks() []mkv.Track { return s.mtracks }
func (s *mp4Source) close()              {}

func (s *mp4Source) next(ctx context.Context) (frame, error) {
	for {
		if s.i == len(s.samples) {
			if !s.loop {
				return frame{}, io.EOF
			}
			s.pass, s.i = s.pass+1, 0
		}
		smp := s.samples[s.i]
		s.i++
		ti, ok := s.index[smp.Media]
		if !ok {
			continue
		}
		offset := time.Duration(s.pass) * s.span
		if err := s.pace(ctx, s.start.Add(offset+smp.DTS)); err != nil {
			return frame{}, err
		}
		return frame{track: ti, at: s.start.Add(offset + smp.PTS), key: smp.Key, data: blockData(s.video[ti], smp.Data)}, nil
	}
}

// mkvSource reads a Matroska file with fragments/mkv's reader; its
// tracks are sent as they are.
type mkvSource struct {
	path    string
	loop    bool
	start   time.Time
	f       *os.File
	r       *mkv.Reader
	mtracks []mkv.Track
	numbers map[uint64]int
	queue   []mkv.Frame
	qtc     time.Duration
	first   time.Duration // timecode of the first frame of the file
	hasT0   bool
	offset  time.Duration // media time of the passes before this one
	last    time.Duration // latest presentation time of this pass, from first
	gap     time.Duration // a frame's duration, to space passes
	paced   time.Duration
	pace    pacer
}

func openMKV(path string, loop bool, start time.Time, pace pacer) (*mkvSource, error) {
	s := &mkvSource{path: path, loop: loop, start: start, pace: pace}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *mkvSource) open() error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("putmedia: source: %w", err)
	}
	s.f, s.r = f, mkv.NewReader(f)
	s.r.EmitOnClusterEnd = true
	return nil
}

func (s *mkvSource) tracks() []mkv.Track { return s.mtracks }

func (s *mkvSource) close() {
	if s.f != nil {
		s.f.Close()
	}
}

func (s *mkvSource) next(ctx context.Context) (frame, error) {
	for len(s.queue) == 0 {
		frag, err := s.r.Next()
		if err == io.EOF && s.loop && s.hasT0 {
			s.f.Close()
			s.offset += s.last + max(s.gap, time.Millisecond)
			if err := s.open(); err != nil {
				return frame{}, err
			}
			continue
		}
		if err == io.EOF {
			return frame{}, io.EOF
		}
		if err != nil {
			return frame{}, fmt.Errorf("putmedia: source %s: %w", s.path, err)
		}
		if len(frag.Frames) == 0 {
			continue
		}
		if s.mtracks == nil {
			s.mtracks = frag.Tracks
			s.numbers = map[uint64]int{}
			for i, t := range frag.Tracks {
				s.numbers[t.Number] = i
			}
		}
		s.queue, s.qtc = frag.Frames, frag.Timecode
	}
	fr := s.queue[0]
	s.queue = s.queue[1:]
	pts := s.qtc + fr.Time
	if !s.hasT0 {
		s.first, s.hasT0 = pts, true
	}
	rel := pts - s.first
	if d := rel - s.last; d > 0 && s.mtracks[s.numbers[fr.Track]].Type == mkv.Video {
		s.gap = d
	}
	s.last = max(s.last, rel)
	// Pace by the latest presentation time so far (B-frames go back).
	s.paced = max(s.paced, s.offset+rel)
	if err := s.pace(ctx, s.start.Add(s.paced)); err != nil {
		return frame{}, err
	}
	return frame{track: s.numbers[fr.Track], at: s.start.Add(s.offset + rel), key: fr.Key, data: fr.Data}, nil
}

// rtspSource pulls a camera with media/rtsp's pull source (the one the
// server uses for configured cameras) into a private registry and reads
// its access units.
type rtspSource struct {
	reg     *media.Registry
	viewer  *media.Viewer
	ids     map[int]int // media track ID → index
	video   []bool
	rates   []int
	clocks  []rtspClock
	started time.Time // of the viewer
	mtracks []mkv.Track
	changed bool
}

// rtspClock maps a track's PTS to the producer's wall clock: the last
// unit with an NTP time (an RTCP sender report's mapping).
type rtspClock struct {
	pts int64
	at  time.Time
	ok  bool
}

// rtspClockWait is how long units without a producer time (no RTCP sender
// report yet) are dropped before the arrival time stands in for it (a
// camera that sends no sender reports).
const rtspClockWait = 3 * time.Second

// timeOf returns the producer time of a unit of track ti: its NTP time,
// or one from the track's last NTP time and the PTS since; false for a
// unit to drop (no mapping yet).
func (s *rtspSource) timeOf(au *media.AccessUnit, ti int) (time.Time, bool) {
	c := &s.clocks[ti]
	switch {
	case !au.NTP.IsZero():
		c.pts, c.at, c.ok = au.PTS, au.NTP, true
		return au.NTP, true
	case c.ok:
		return c.at.Add(time.Duration((au.PTS - c.pts) * int64(time.Second) / int64(max(s.rates[ti], 1)))), true
	case time.Since(s.started) < rtspClockWait:
		return time.Time{}, false
	}
	c.pts, c.at, c.ok = au.PTS, au.Arrival, true
	return au.Arrival, true
}

// rtspName is the publication name inside the private registry.
const rtspName = "putmedia"

func openRTSP(url string, log *slog.Logger) (*rtspSource, error) {
	reg := &media.Registry{Logger: log}
	if err := reg.AddSource(rtspName, &rtsp.Source{URL: url, Logger: log,
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 5 * time.Second}); err != nil {
		reg.Close()
		return nil, fmt.Errorf("putmedia: source: %w", err)
	}
	return &rtspSource{reg: reg}, nil
}

func (s *rtspSource) tracks() []mkv.Track { return s.mtracks }

func (s *rtspSource) close() {
	if s.viewer != nil {
		s.viewer.Close()
	}
	s.reg.Close()
}

func (s *rtspSource) next(ctx context.Context) (frame, error) {
	for {
		if s.viewer == nil {
			v, err := s.reg.Read(ctx, rtspName)
			if err != nil {
				if ctx.Err() != nil {
					return frame{}, ctx.Err()
				}
				return frame{}, fmt.Errorf("putmedia: source: %w", err)
			}
			s.viewer, s.started = v, time.Now()
			s.ids = map[int]int{}
			s.video, s.rates = nil, nil
			for i, t := range v.Tracks {
				s.ids[t.ID] = i
				s.video = append(s.video, t.Kind == media.Video)
				s.rates = append(s.rates, t.ClockRate)
			}
			s.clocks = make([]rtspClock, len(v.Tracks))
			s.changed = true
		}
		au, err := s.viewer.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return frame{}, ctx.Err()
			}
			// The camera went away (the source reconnects) or this
			// reader fell behind: read the next publication.
			s.viewer.Close()
			s.viewer = nil
			continue
		}
		ti, ok := s.ids[au.Track]
		if !ok {
			continue
		}
		at, ok := s.timeOf(au, ti)
		if !ok {
			continue
		}
		if s.changed {
			// Describe the tracks with the first video keyframe's
			// parameter sets at hand (cameras may send them in-band only).
			if hasVideo(s.video) && (!s.video[ti] || !au.Key) {
				continue
			}
			var tracks []mkv.Track
			for i, t := range s.viewer.Tracks {
				var key [][]byte
				if i == ti {
					key = au.Payload
				}
				mt, err := mkvTrack(t, uint64(i+1), key)
				if err != nil {
					return frame{}, err
				}
				tracks = append(tracks, mt)
			}
			s.changed = false
			prev := s.mtracks
			s.mtracks = tracks
			f := frame{track: ti, at: at, key: au.Key, data: blockData(s.video[ti], au.Payload)}
			if !sameTracks(tracks, prev) {
				return f, errNewTracks
			}
			return f, nil
		}
		return frame{track: ti, at: at, key: au.Key, data: blockData(s.video[ti], au.Payload)}, nil
	}
}

func hasVideo(video []bool) bool {
	for _, v := range video {
		if v {
			return true
		}
	}
	return false
}

// sameTracks reports whether two track lists describe the same upload
// header (a nil b is the first description: the same).
func sameTracks(a, b []mkv.Track) bool {
	if b == nil {
		return true
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].CodecID != b[i].CodecID || string(a[i].CodecPrivate) != string(b[i].CodecPrivate) ||
			a[i].Width != b[i].Width || a[i].Height != b[i].Height {
			return false
		}
	}
	return true
}
