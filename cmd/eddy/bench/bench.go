package bench

import (
	"fmt"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
)

// Main runs `eddy bench` with args, the words after "bench": the name of
// a bench (kds, ingest, hls, webrtc, webrtc-events, soak, events or putmedia), then its flags.
func Main(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "ingest":
			return benchIngest(args[1:])
		case "hls":
			return benchHLS(args[1:])
		case "kds":
			return benchKDS(args[1:])
		case "webrtc":
			return benchWebRTC(args[1:])
		case "webrtc-events":
			return benchWebRTCEvents(args[1:])
		case "soak":
			return benchSoak(args[1:])
		case "events":
			return benchEvents(args[1:])
		case "putmedia":
			return benchPutMedia(args[1:])
		}
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		fmt.Fprint(usage.Stdout, benchUsage)
		return nil
	}
	if len(args) == 0 {
		return usage.Errorf("bench", "want a benchmark: %s", benchNames)
	}
	return usage.Errorf("bench", "unknown benchmark %q: want %s", args[0], benchNames)
}

const benchNames = "kds, ingest, hls, webrtc, webrtc-events, soak, events or putmedia"

const benchUsage = `usage: eddy bench NAME [flags]

Benchmarks a server (most start their own eddy serve on loopback with a fresh data directory) and
print a report, or JSON with --json; README, "Benchmark" and the protocol sections, show results.

  kds            a Kinesis Data Streams endpoint (Eddy or AWS) with PutRecords and readers
  ingest         RTSP ingest and recording of N cameras
  hls            LIVE HLS and LL-HLS: listing delay, segment fetches, many viewers
  webrtc         WHEP forwarding latency and loss to many viewers
  webrtc-events  events on the WHEP data channel
  soak           every load at once for an hour: trends, errors, loss
  events         1,000 events/s into a camera's event stream with 200 HLS readers
  putmedia       PutMedia producers against RTSP ingest of the same clip

Run 'eddy bench NAME --help' for a benchmark's flags.
`
