package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/media/redact"
	"github.com/eddy-video/eddy/media/rtsp"
)

// startSources creates the configured pull sources' streams when missing
// and starts pulling.
func (s *Server) startSources() error {
	for _, src := range s.Config.Video.Sources {
		if err := s.startSource(src, s.Config.Video.DefaultRetention); err != nil {
			return err
		}
	}
	return nil
}

// startSource creates src's stream when missing (with the source's
// retention, or def), caps an existing one's size when the source sets a
// cap, and starts pulling.
func (s *Server) startSource(src SourceConfig, def Duration) error {
	if _, err := s.videos.Describe(src.Stream); err != nil {
		o := fragments.CreateOptions{RetentionHours: sourceRetentionHours(src, def), RetentionBytes: int64(src.RetentionBytes), DeviceName: "rtsp-source"}
		if _, err := s.videos.CreateStream(src.Stream, o); err != nil {
			return fmt.Errorf("video.sources %s: %w", src.Stream, err)
		}
	} else if src.RetentionBytes > 0 {
		if err := s.videos.SetRetentionBytes(src.Stream, int64(src.RetentionBytes)); err != nil {
			return fmt.Errorf("video.sources %s: %w", src.Stream, err)
		}
	}
	if err := s.registry.AddSource(src.Stream, &rtsp.Source{URL: src.URL, OnDemand: src.OnDemand, Logger: s.Logger}); err != nil {
		return fmt.Errorf("video.sources %s: %w", src.Stream, err)
	}
	return nil
}

// sourceRetentionHours is the retention of a source's stream: its own, or
// def.
func sourceRetentionHours(src SourceConfig, def Duration) int {
	if src.Retention != nil {
		def = *src.Retention
	}
	return int(time.Duration(def) / time.Hour)
}

// checkSources refuses sources whose stream name no publication may take
// (Validate checks the rest): a reload must not fail halfway on them.
func (s *Server) checkSources(srcs []SourceConfig) error {
	var errs []error
	for i, src := range srcs {
		if err := s.registry.ValidateName(src.Stream); err != nil {
			errs = append(errs, fmt.Errorf("video.sources[%d].stream: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// reloadSources brings the pull sources from those of cur to those of
// next: a removed source stops (its stream and recordings stay), an added
// one starts, one whose URL or on_demand changed restarts, and a changed
// retention (its own, or the default it follows) applies to its stream.
// The other sources, and their viewers, are not touched. It returns the
// sources now configured (one that failed to start is left out, so that
// the next reload tries again), what changed, and what failed.
func (s *Server) reloadSources(cur, next *Config) ([]SourceConfig, []string, error) {
	old := map[string]SourceConfig{}
	for _, src := range cur.Video.Sources {
		old[src.Stream] = src
	}
	var running []SourceConfig
	var changes []string
	var errs []error
	for _, src := range next.Video.Sources {
		was, ok := old[src.Stream]
		delete(old, src.Stream)
		change, err := s.reloadSource(was, ok, src, cur.Video.DefaultRetention, next.Video.DefaultRetention)
		if change != "" {
			changes = append(changes, fmt.Sprintf("video.sources[%s]: %s", src.Stream, change))
		}
		if err != nil {
			errs = append(errs, err)
		}
		if s.registry.HasSource(src.Stream) {
			running = append(running, src)
		}
	}
	for _, src := range cur.Video.Sources {
		if _, gone := old[src.Stream]; gone {
			s.registry.RemoveSource(src.Stream)
			changes = append(changes, fmt.Sprintf("video.sources[%s]: removed (the stream and its recordings stay)", src.Stream))
		}
	}
	return running, changes, errors.Join(errs...)
}

// reloadSource applies one source of the new configuration: src, that was
// configured as was (when existed), with the default retention going from
// oldDef to newDef. It returns what changed ("": nothing).
func (s *Server) reloadSource(was SourceConfig, existed bool, src SourceConfig, oldDef, newDef Duration) (string, error) {
	if !existed {
		if err := s.startSource(src, newDef); err != nil {
			return "", err
		}
		return "added, pulling " + redact.URL(src.URL), nil
	}
	var change string
	if was.URL != src.URL || was.OnDemand != src.OnDemand {
		s.registry.RemoveSource(src.Stream)
		if err := s.registry.AddSource(src.Stream, &rtsp.Source{URL: src.URL, OnDemand: src.OnDemand, Logger: s.Logger}); err != nil {
			return "stopped", fmt.Errorf("video.sources %s: %w", src.Stream, err)
		}
		change = fmt.Sprintf("restarted, pulling %s (on_demand %t)", redact.URL(src.URL), src.OnDemand)
	}
	if h, oh := sourceRetentionHours(src, newDef), sourceRetentionHours(was, oldDef); h != oh {
		if err := s.setRetentionHours(src.Stream, h); err != nil {
			return change, fmt.Errorf("video.sources %s: retention: %w", src.Stream, err)
		}
		change = join(change, fmt.Sprintf("retention %dh (was %dh)", h, oh))
	}
	if src.RetentionBytes != was.RetentionBytes {
		if err := s.videos.SetRetentionBytes(src.Stream, int64(src.RetentionBytes)); err != nil {
			return change, fmt.Errorf("video.sources %s: retention_bytes: %w", src.Stream, err)
		}
		change = join(change, fmt.Sprintf("retention_bytes %s (was %s)", src.RetentionBytes, was.RetentionBytes))
	}
	return change, nil
}

// setRetentionHours sets a video stream's retention, as
// UpdateDataRetention would (a decrease drops older fragments at once).
func (s *Server) setRetentionHours(name string, hours int) error {
	v, err := s.videos.Describe(name)
	if err != nil {
		return err
	}
	delta := hours - v.DataRetentionInHours
	if delta == 0 {
		return nil
	}
	return s.videos.UpdateRetention(name, &v.Version, delta > 0, max(delta, -delta))
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
