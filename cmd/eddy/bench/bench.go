package bench

import (
	"fmt"
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
	return fmt.Errorf("usage: eddy bench kds|ingest|hls|webrtc|webrtc-events|soak|events|putmedia [flags]")
}
