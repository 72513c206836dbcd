// Package fragmenter cuts a publication's access units into fragments: one
// CMAF media segment (moof+mdat) per GOP holding every track, with the init
// segment (ftyp+moov) of its codec configuration, and, for Low-Latency
// HLS, the parts of the fragment being cut as its frames arrive.
//
// It knows tracks, access units and fMP4 sample tables. It must not know
// where fragments go (the recorder stores them), nor any network protocol.
package fragmenter
