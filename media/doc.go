// Package media is the codec-neutral core of live media. It owns:
//
//   - tracks and access units, and the Track conventions every protocol
//     adapter follows (codecs.go);
//   - the Hub, which fans one publication out to readers with bounded
//     queues, dropping (and counting) a reader that falls behind;
//   - the Registry of live publications by name: exclusive publishing,
//     readers, the pull sources that feed some names (Source, started on
//     demand or always), and the syntax of stream names;
//   - the playback capability rules: which codec plays over HLS, MPEG-TS
//     and WebRTC, and why not (playback.go);
//   - the series of publications (metrics.go), named as CloudWatch names
//     Kinesis Video's PutMedia metrics, since a publication is Eddy's
//     PutMedia; the publisher's protocol is an opaque label to it.
//
// It must not know protocols (RTP, RTSP, WebRTC, HLS), storage or the
// Kinesis APIs: the RTP codec boundary is media/rtpcodec, the RTSP edge
// media/rtsp, and names reserved by the layers above reach the Registry
// through its CheckName hook. It imports no other package of Eddy.
package media
