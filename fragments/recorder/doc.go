// Package recorder records publications: for each one whose video stream
// keeps data it reads the live hub like any other reader, runs the
// fragmenter and appends fragments (and LL-HLS parts) to the stream's
// store. A recorder that falls behind is dropped by the hub and rejoins at
// the next keyframe, so a publisher is never slowed. A fragment the store
// cannot take (a full disk) ends the publication (EndPublication), so its
// publisher is told and records again when it reconnects. It counts what
// the fragmenter repaired of a bad producer's stream
// (eddy_recorder_repairs_total).
//
// It must not know the protocols media arrives by (RTSP, WHIP) or leaves
// by (HLS, WebRTC); the server wires it to the media registry.
package recorder
