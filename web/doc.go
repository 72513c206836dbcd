// Package web is Eddy's browser UI: the built front end (web/dist, embedded
// with go:embed) and the small JSON API it reads (stream list, archive
// coverage) and the browser clip GET /api/v1/streams/{name}/clip.mp4 (the
// GetClip MP4 with Content-Length and Range), and the event reads GET
// /api/v1/streams/{name}/events and /timeline (api_events.go: events by
// video time from the fragment store's event timeline, and the same
// interleaved with the fragments that cover them), and the timeline's
// thumbnails GET /api/v1/streams/{name}/thumbnail (api_thumbnails.go: JPEGs
// from fragments/images, cached by bytes, decodes coalesced and bounded).
// Playback goes through the
// Kinesis Video HLS API and WHEP, which other packages serve.
//
// The front-end source is under web/src; `npm ci && npm run build` in web/
// rebuilds web/dist, which is committed so that a fresh clone builds without
// Node.
//
// With credentials configured, the UI logs in (access.go): the server's
// hooks (Access) check the secret, set and read the session cookie, and
// issue the WebRTC tokens the page sends to WHEP and WHIP; this package
// checks each API call against the session's identity (hls:read to list
// and play, webrtc:read, webrtc:publish, kinesisvideo:GetClip for clips,
// kinesisvideo:ListFragments or hls:read for the event reads),
// lists only the streams it may watch, and refuses state-changing requests
// that other sites' pages start (Origin, Sec-Fetch-Site, Referer). HLS
// session URLs come from POST /api/v1/ui/hls through a hook, so that the
// API's own GetHLSStreamingSessionURL stays a SigV4 call.
//
// It reads the fragment store for listings and clips (clips and their
// errors through fragments/kvsapi, as GetClip; frames through
// fragments/images); it must not cut, store, decode or re-mux media itself, nor import hls, webrtc or server/auth (it knows no
// credentials, only a principal's name and what it is allowed).
package web
