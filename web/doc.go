// Package web is Eddy's browser UI: the built front end (web/dist, embedded
// with go:embed) and the small JSON API it reads (stream list, archive
// coverage). Playback goes through the Kinesis Video HLS API and clips
// through /api/v1/streams/{name}/clip.mp4, which other packages serve.
//
// The front-end source is under web/src; `npm ci && npm run build` in web/
// rebuilds web/dist, which is committed so that a fresh clone builds without
// Node.
//
// It must not serve media itself (it reads the fragment store for
// listings and clips, through fragments/kvsapi's errors), nor import hls
// or webrtc.
package web
