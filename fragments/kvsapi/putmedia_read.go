package kvsapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/eddy-video/eddy/fragments/archive"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/media"
)

// pmBody counts the upload and notes when its bytes last arrived (IDLE).
type pmBody struct {
	r io.Reader
	s *pmSession
}

func (b *pmBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.s.lastData.Store(time.Now().UnixNano())
		b.s.pm.metrics.bytes.Add(float64(n))
	}
	return n, err
}

// errStopped ends the reading of a session the server stopped.
var errStopped = errors.New("putmedia: session stopped")

// pmFatal ends a session with an ERROR ack.
type pmFatal struct {
	e   pmError
	err error
}

func (f *pmFatal) Error() string { return fmt.Sprintf("%s: %v", f.e.Code, f.err) }
func (f *pmFatal) Unwrap() error { return f.err }

// pmReader reads one upload: Matroska clusters into published fragments.
type pmReader struct {
	s         *pmSession
	mr        *mkv.Reader
	tracks    []*pmTrack
	byNum     map[uint64]*pmTrack
	mkvTracks []mkv.Track // as published
	origin    time.Duration
	// last is, per Matroska track, the time (timecode + block time) of
	// its latest frame in the last accepted fragment.
	last      map[uint64]time.Duration
	tc        int64 // the current cluster's timecode, ms as sent
	inCluster bool
}

func newPMReader(s *pmSession, body io.Reader) *pmReader {
	rd := &pmReader{s: s, last: map[uint64]time.Duration{}}
	rd.mr = mkv.NewReader(&pmBody{r: body, s: s})
	rd.mr.EmitOnClusterEnd = true
	rd.mr.MaxFragmentSize = s.pm.MaxFragmentBytes
	rd.mr.MaxFrameSize = min(mkv.MaxFrameSize, s.pm.MaxFragmentBytes)
	rd.mr.OnCluster = rd.onCluster
	return rd
}

// onCluster runs at a cluster's timecode, before its blocks: the first
// one publishes the upload (its tracks are known by then), each one is
// acknowledged BUFFERING.
func (rd *pmReader) onCluster(tracks []mkv.Track, tc time.Duration) error {
	if rd.s.stopped() {
		return errStopped
	}
	rd.tc, rd.inCluster = int64(tc/time.Millisecond), true
	if rd.byNum == nil {
		if err := rd.publish(tracks, tc); err != nil {
			return err
		}
	}
	rd.s.ack("BUFFERING", rd.tc)
	return nil
}

func (rd *pmReader) publish(tracks []mkv.Track, tc time.Duration) error {
	s := rd.s
	switch {
	case len(tracks) == 0:
		return &pmFatal{pmInvalidMKV, errors.New("a Cluster before any Tracks")}
	case len(tracks) > pmMaxTracks:
		return &pmFatal{pmTooManyTracks, fmt.Errorf("%d tracks (at most %d)", len(tracks), pmMaxTracks)}
	}
	pts, err := convertTracks(tracks)
	if err != nil {
		return &pmFatal{pmInvalidMKV, err}
	}
	mt := make([]media.Track, len(pts))
	byNum := map[uint64]*pmTrack{}
	for i, pt := range pts {
		mt[i] = pt.track
		byNum[pt.number] = pt
	}
	h, err := s.pm.Registry.PublishCutting(pmProtocol, s.name, mt)
	switch {
	case errors.Is(err, media.ErrAlreadyPublishing):
		return &refusal{AsError(errBusy(s.name))}
	case errors.Is(err, media.ErrNotFound):
		return &refusal{Errorf(CodeNotFound, "The stream %s does not exist.", s.name)}
	case err != nil:
		return &pmFatal{pmInternal, err}
	}
	s.mu.Lock()
	s.hub = h
	s.mu.Unlock()
	s.log.Info("PutMedia session publishing", "tracks", media.TrackSummary(mt), "relative", s.relative)
	rd.tracks, rd.byNum, rd.mkvTracks, rd.origin = pts, byNum, tracks, tc
	return nil
}

// run reads clusters until the upload ends (nil), a fatal error (acked
// ERROR) or a halt.
func (rd *pmReader) run() error {
	s := rd.s
	for {
		f, err := rd.mr.Next()
		if err != nil {
			if s.stopped() || err == io.EOF {
				return nil
			}
			if errors.Is(err, errPublishRefused) {
				return err
			}
			var tc *int64
			if rd.inCluster {
				tc = &rd.tc
			}
			s.fail(classify(err), tc)
			return err
		}
		rd.inCluster = false
		if len(f.Frames) == 0 {
			continue // Tags after the last Cluster: no fragment to attach them to
		}
		if err := rd.fragment(f); err != nil {
			if errors.Is(err, errStopped) {
				return nil
			}
			return err
		}
	}
}

// classify gives the ErrorId of an error that ends an upload.
func classify(err error) pmError {
	var pf *pmFatal
	if errors.As(err, &pf) {
		return pf.e
	}
	switch {
	case errors.Is(err, mkv.ErrTooLarge):
		return pmMaxFragmentSize
	case errors.Is(err, mkv.ErrUnknownTrack):
		return pmTrackMismatch
	case errors.Is(err, mkv.ErrMalformed), errors.Is(err, mkv.ErrUnsupported):
		return pmInvalidMKV
	}
	return pmStreamReadError // truncated (io.ErrUnexpectedEOF) or unreadable upload
}

// fragment checks one cluster and publishes it as one fragment; a bad
// one is acked ERROR and skipped (nil), a fatal one ends the upload.
func (rd *pmReader) fragment(f *mkv.Fragment) error {
	s := rd.s
	if s.stopped() {
		return errStopped
	}
	tc := int64(f.Timecode / time.Millisecond)
	skip := func(e pmError, why string, args ...any) error {
		s.log.Info("PutMedia fragment skipped", "timecode", tc, "error", e.Code, "why", fmt.Sprintf(why, args...))
		s.fail(e, &tc)
		return nil
	}
	if !sameTracks(f.Tracks, rd.mkvTracks) {
		s.fail(pmTrackMismatch, &tc)
		return &pmFatal{pmTrackMismatch, errors.New("the tracks changed mid-stream")}
	}
	tags, ok := archive.UserTags(f.PreTags)
	if !ok {
		return skip(pmMetadataLimit, "more than %d tags, or an empty name, a name over %d bytes, a value over %d, a NUL byte",
			archive.MaxUserTags, archive.MaxTagName, archive.MaxTagValue)
	}
	type span struct {
		n        int
		min, max time.Duration
		firstKey bool
	}
	spans := map[uint64]*span{}
	lo, hi := f.Frames[0].Time, f.Frames[0].Time
	for i := range f.Frames {
		fr := &f.Frames[i]
		sp := spans[fr.Track]
		if sp == nil {
			sp = &span{min: fr.Time, max: fr.Time, firstKey: fr.Key}
			spans[fr.Track] = sp
		}
		sp.n++
		sp.min, sp.max = min(sp.min, fr.Time), max(sp.max, fr.Time)
		lo, hi = min(lo, fr.Time), max(hi, fr.Time)
	}
	for _, pt := range rd.tracks {
		sp := spans[pt.number]
		switch {
		case sp == nil:
			return skip(pmFramesMissing, "no frame of track %d", pt.number)
		case pt.track.Kind == media.Video && !sp.firstKey:
			return skip(pmInvalidMKV, "the cluster does not start on a keyframe of track %d", pt.number)
		}
	}
	if n := len(f.Frames); n > cap(s.units) {
		// Its units must all fit the recorder's queue, in flight (reserve).
		return skip(pmMaxFragmentSize, "%d frames (at most %d)", n, cap(s.units))
	}
	if hi-lo > s.pm.MaxFragmentDuration {
		return skip(pmMaxFragmentDuration, "%v of frames (at most %v)", hi-lo, s.pm.MaxFragmentDuration)
	}
	for num, sp := range spans {
		if last, ok := rd.last[num]; ok && f.Timecode+sp.min <= last {
			return skip(pmTimecodeBackwards, "track %d starts at %v, at or before its previous frame at %v", num, f.Timecode+sp.min, last)
		}
	}
	start := s.base.Add(f.Timecode + lo)
	if start.Before(time.Unix(0, 0)) || start.Year() >= 2100 {
		return skip(pmInvalidProducerTime, "producer time %v", start)
	}
	// The stored fragment's producer time: its first video frame's (the
	// recorder cuts on the first video track), else its first frame's.
	fragStart := start
	if vt := rd.videoTrack(); vt != 0 {
		for i := range f.Frames {
			if f.Frames[i].Track == vt {
				fragStart = s.base.Add(f.Timecode + f.Frames[i].Time)
				break
			}
		}
	}
	arrival := time.Now()
	aus, err := convertFrames(f, rd.byNum, rd.origin, s.base, arrival)
	if err != nil {
		return skip(pmInvalidMKV, "%v", err)
	}
	for num, sp := range spans {
		rd.last[num] = f.Timecode + sp.max
	}
	s.ack("RECEIVED", tc)
	s.pm.metrics.fragments.Inc()
	last := aus[len(aus)-1]
	last.FragmentEnd = true
	if s.persist {
		pf := &pmFragment{timecode: tc, ended: arrival}
		if !s.reserve(pf, len(aus)) {
			return nil
		}
		s.mu.Lock()
		s.inflight[pf] = struct{}{}
		s.mu.Unlock()
		last.Stored = func(seq uint64, err error) { s.stored(pf, seq, err) }
		if len(tags) > 0 {
			// Indexed before the fragment can be listed: a live GetMedia
			// finds it when it writes the fragment.
			s.writeMetadata(fragStart, hi-lo, tags)
		}
	}
	for _, au := range aus {
		s.hub.Publish(au)
	}
	return nil
}

// videoTrack is the Matroska number of the upload's first video track
// (the one the recorder cuts on), 0 without one.
func (rd *pmReader) videoTrack() uint64 {
	for _, pt := range rd.tracks {
		if pt.track.Kind == media.Video {
			return pt.number
		}
	}
	return 0
}

// sameTracks reports whether a fragment's tracks are those published: the
// same slice, or a new Segment that declares the same ones.
func sameTracks(a, b []mkv.Track) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) > 0 && &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i].Number != b[i].Number || a[i].CodecID != b[i].CodecID || !bytes.Equal(a[i].CodecPrivate, b[i].CodecPrivate) {
			return false
		}
	}
	return true
}
