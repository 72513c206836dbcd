// Package recorder records publications: for each one whose video stream
// keeps data it reads the live hub like any other reader, runs the
// fragmenter and appends fragments (and LL-HLS parts) to the stream's
// store. A recorder that falls behind is dropped by the hub and rejoins at
// the next keyframe, so a publisher is never slowed. A fragment the store
// cannot take (a full disk) ends the publication (EndPublication), so its
// publisher is told and records again when it reconnects. A publication
// that cuts its own fragments (media.Hub.CutsFragments: PutMedia, one per
// Cluster) is cut where it marks (AccessUnit.FragmentEnd), and each mark's
// Stored hook is told the fragment's sequence number once it is stored, or
// why it was not. It counts what
// the fragmenter repaired of a bad producer's stream
// (eddy_recorder_repairs_total).
//
// It must not know the protocols media arrives by (RTSP, WHIP) or leaves
// by (HLS, WebRTC); the server wires it to the media registry.
package recorder
