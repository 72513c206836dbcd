package server

import "fmt"

// beforeDeleteVideo is the video layer's BeforeDelete: a deleted stream's
// recording stops and its publication ends, so that its publisher is told
// (its RTSP session closes, its WHIP session ends) and its live viewers
// with it. Nothing of the name stays live: a camera that reconnects
// publishes anew, and records once the name is created again (or at once
// with video.auto_create).
func (s *Server) beforeDeleteVideo(name string) {
	s.recorder.Stop(name)
	s.registry.End(name, fmt.Errorf("stream %s was deleted", name))
}
