package main

import (
	"fmt"
	"os"

	"github.com/eddy-video/eddy/cmd/eddy/bench"
)

const usage = `usage:
  eddy serve [flags]       run the server (eddy serve -h for flags)
  eddy bench kds [flags]   benchmark a Kinesis Data Streams endpoint (eddy bench kds -h)
  eddy bench ingest [flags] benchmark RTSP ingest and recording (eddy bench ingest -h)
  eddy bench hls [flags]   benchmark LIVE HLS and LL-HLS (eddy bench hls -h)
  eddy bench webrtc [flags] benchmark WHEP forwarding (eddy bench webrtc -h)
  eddy bench webrtc-events [flags]
                           benchmark events on the WHEP data channel (eddy bench webrtc-events -h)
  eddy bench soak [flags]  every load at once for an hour: trends, errors, loss (eddy bench soak -h)
  eddy bench events [flags] 1,000 events/s into a camera's event stream with 200 HLS readers:
                           every event read back, recorder unaffected (eddy bench events -h)
  eddy bench putmedia [flags]
                           50 PutMedia producers against RTSP ingest of the same clip: server CPU
                           ratio, Cluster → PERSISTED ack p99 (eddy bench putmedia -h)
  eddy publish [flags] FILE.mp4 rtsp://HOST:8554/STREAM
                           publish an H.264/H.265+AAC MP4 over RTSP in real time
  eddy putmedia [flags] SOURCE STREAM
                           upload an MP4/MKV file or an rtsp:// camera with Kinesis Video PutMedia,
                           printing each acknowledgement (eddy putmedia -h)
  eddy whep [flags] http://HOST:8080/webrtc/STREAM/whep
                           play a stream over WebRTC; -out saves H.264/H.265 (Annex-B),
                           -events prints the stream's live events
  eddy cert [--host NAME]... [--cert F --key F]
                           write a self-signed TLS certificate and key for trials
  eddy streams ls|create|rm|retention, eddy fragments ls, eddy clip, eddy events tail, eddy status
                           daily chores against a running server (eddy streams -h, ...)
  eddy token --stream NAME --action webrtc:read [--expires 1h] [--endpoint URL]
                           get a bearer token for WHIP/WHEP (signed with the credentials the
                           AWS SDKs find: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, --profile)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "bench":
		err = bench.Main(os.Args[2:])
	case "publish":
		err = publish(os.Args[2:])
	case "whep":
		err = whep(os.Args[2:])
	case "putmedia":
		err = putMedia(os.Args[2:])
	case "cert":
		err = cert(os.Args[2:])
	case "token":
		err = token(os.Args[2:])
	case "streams", "fragments", "clip", "events", "status":
		err = chores(os.Args[1], os.Args[2:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "eddy: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eddy:", err)
		os.Exit(1)
	}
}
