// Package server wires Eddy together: configuration, listeners, the HTTP
// router, metrics and lifecycle. Domain logic lives in the packages it mounts.
//
// It owns nothing of the domain: it builds the shard core, the video
// streams, the recorder, the media registry (and wires the registry's
// hooks: admission and recording by the video layer, reserved names), the
// HTTP router that mounts each package's handlers, the RTSP and WebRTC
// listeners, TLS and the Prometheus registry, and shuts them down in
// order. Reload (reload.go) applies a new configuration to a running
// server: what can change live is handed to the component that owns it
// (pull sources to the registry, retention to the core and the video
// streams, identities to auth, the certificate to the TLS listeners),
// and the rest is named as needing a restart. It must not hold domain
// logic; only cmd imports it.
package server
