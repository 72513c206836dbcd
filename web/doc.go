// Package web is Eddy's browser UI: the built front end (web/dist, embedded
// with go:embed) and the small JSON API it reads (stream list, archive
// coverage) and the browser clip GET /api/v1/streams/{name}/clip.mp4 (the
// GetClip MP4 with Content-Length and Range). Playback goes through the
// Kinesis Video HLS API and WHEP, which other packages serve.
//
// The front-end source is under web/src; `npm ci && npm run build` in web/
// rebuilds web/dist, which is committed so that a fresh clone builds without
// Node.
//
// It reads the fragment store for listings and clips (clips and their
// errors through fragments/kvsapi, as GetClip); it must not cut, store or
// re-mux media itself, nor import hls or webrtc.
package web
