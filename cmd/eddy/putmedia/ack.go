package putmedia

import "github.com/eddy-video/eddy/fragments/kvsapi"

// Event types of PutMedia acknowledgements (the Kinesis Video PutMedia
// API reference).
const (
	EventBuffering = kvsapi.AckBuffering // the first byte of a fragment arrived
	EventReceived  = kvsapi.AckReceived  // the whole fragment arrived
	EventPersisted = kvsapi.AckPersisted // the fragment is durably stored
	EventError     = kvsapi.AckError     // the fragment (or the session) failed: ErrorId, ErrorCode
	EventIdle      = kvsapi.AckIdle      // keep-alive while no data arrives
)

// Ack is one acknowledgement the server streams back on a PutMedia
// connection (the server's own type: one JSON object per line).
type Ack = kvsapi.Ack
