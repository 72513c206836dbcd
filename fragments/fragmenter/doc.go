// Package fragmenter cuts a publication's access units into fragments: one
// CMAF media segment (moof+mdat) per GOP (or, with PublisherCuts, per
// fragment its publisher marks) holding every track, with the init
// segment (ftyp+moov) of its codec configuration, and, for Low-Latency
// HLS, the parts of the fragment being cut as its frames arrive (while
// someone watches: PartsWanted). Samples are the access units' own
// payloads, copied once into each segment written (cmaf.AppendSegment).
//
// Whatever a producer sends, what it cuts passes the store's fragment rule:
// a timestamp guard (timing.go) keeps each track's timeline moving forward
// by bounded steps, cutting at jumps with a discontinuity, and the cut
// rules (cuts.go) bound each fragment's duration and size; it reports what
// it repaired as Events.
//
// It knows tracks, access units and fMP4 sample tables. It must not know
// where fragments go (the recorder stores them), nor any network protocol.
package fragmenter
