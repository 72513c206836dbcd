package server

import "github.com/eddy-video/eddy/fragments/events"

// timelineOf returns the event timeline of a video stream, nil when the
// stream has no store (a live-only publication).
func (s *Server) timelineOf(name string) *events.Timeline {
	st, err := s.videos.Store(name)
	if err != nil {
		return nil
	}
	return st.Timeline()
}
