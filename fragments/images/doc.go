// Package images decodes still images (JPEG or PNG) of a video stream's
// stored frames, for the Kinesis Video GetImages operation and the UI's
// thumbnails. Each image is the frame nearest its time, decoded from its
// GOP's keyframe forward by an ffmpeg process fed the GOP's fragments as
// fragmented MP4 (init segment, then moof+mdat). A process is started per
// batch of GOPs and ends with it; at most Options.Workers run at once
// (a semaphore shared by every caller), and a batch reads its fragments
// only while it holds one of those slots. Images over MaxImageSize are
// MEDIA_ERROR; Admit bounds the GetImages pages in flight.
//
// It knows the fragment store and FFmpeg's command line; it must not know
// HTTP, the Kinesis Video wire format, or the UI.
package images
