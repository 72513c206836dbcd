// Package putmedia is a Kinesis Video PutMedia producer: it reads a
// source (an MP4 or Matroska file, or an RTSP camera), muxes one Matroska
// Cluster per GOP (fragments/mkv's stream muxer) and streams them on one
// long chunked POST /putMedia, reading the acknowledgements (BUFFERING,
// RECEIVED, PERSISTED, ERROR, IDLE) on the same connection while it
// uploads, as the KVS producer SDKs do. Every cluster stays in a local
// buffer (files, synced, kept across runs) until its PERSISTED
// acknowledgement; after an ERROR, a lost connection or a server restart
// it reconnects with backoff and sends the unacknowledged clusters first,
// so nothing the server has not acknowledged as durable is lost.
//
// It serves `eddy putmedia`, `eddy bench putmedia` and the end-to-end
// tests. It knows the PutMedia wire (headers, acks, SigV4 with the
// empty-payload hash producers sign), never the server's internals.
package putmedia
