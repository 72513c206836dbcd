// Package archive reads stored fragments out in the containers the
// archived-media API hands out: a progressive MP4 of a time range (GetClip
// and the browser's clip.mp4) and one MKV document per fragment
// (GetMediaForFragmentList, GetMedia), with the fragment's metadata and
// events as tags, re-muxed from the stored CMAF samples without
// re-encoding.
//
// It must not know HTTP or the Kinesis wire format (package kvsapi selects
// the fragments and answers the requests).
package archive
