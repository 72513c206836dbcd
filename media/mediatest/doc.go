// Package mediatest holds the test helpers of the media layer, for the
// tests of media's packages and of the packages that read a hub (hls,
// webrtc, server, cmd/eddy):
//
//   - synthetic media: H.264 and H.265 access units with real parameter
//     sets and numbered NAL units (synthetic.go), whole publications as
//     access units with PTS/DTS and NTP (Synth), the small VP8, VP9 and
//     AV1 files under testdata/ (ivf.go);
//   - ffprobe and ffmpeg wrappers (ffmpeg.go), and RequireTool/Missing:
//     a missing tool fails the test when CI is set and skips it otherwise;
//   - the colour clip of the image tests, whose every frame is a solid
//     colour naming it, and colour checks of decoded images (colour.go);
//   - small checks and waits (CheckTracks, ReserveSuffix, WaitFor, Logger).
//
// It is imported by tests only, and must not know the servers, stores or
// HTTP APIs those tests start: server start-up is server/servertest's.
package mediatest
