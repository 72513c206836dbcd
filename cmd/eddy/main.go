package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/eddy-video/eddy/cmd/eddy/bench"
	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
)

const about = `Eddy is a self-hosted video-stream ingestion, archive and playback server modeled on Amazon
Kinesis Video Streams, with a Kinesis Data Streams shard core underneath for the events that go with
the video. Cameras publish over RTSP, WebRTC (WHIP) or PutMedia; viewers play over HLS, WebRTC
(WHEP), RTSP, GetMedia, clips and the web UI; the AWS SDKs and tools work against its HTTP APIs.
`

// usageText is eddy --help: every command, in the groups of the README's
// "Command line" section.
const usageText = `usage: eddy COMMAND [flags] [arguments]

The server:
  serve                    run the server (eddy serve --help: every flag, its YAML key and
                           EDDY_* variable, and the settings only the YAML file has)
  cert                     write a self-signed TLS certificate and key for trials
  restore                  rebuild a lost node's data directory from its object-storage bucket
  version                  print Eddy's version, its source revision and the Go version

Daily chores against a running server, over its public APIs:
  streams ls|create|rm|retention
                           list, create and delete streams; show or set a retention
  fragments ls             a video stream's fragments and the gaps between them
  clip                     download a clip as MP4 (GetClip), resuming after a cut
  events tail              print a stream's events or records as they arrive
  status                   the server's health, listeners, streams, sessions and disk
  token                    get a bearer token for WHIP/WHEP and HLS

Cameras and players:
  publish                  publish an MP4 file over RTSP in real time, as a camera would
  putmedia                 upload a file or an rtsp:// camera with Kinesis Video PutMedia
  whep                     play a stream over WebRTC (WHEP); save its video, print its events

Benchmarks (eddy bench NAME --help):
  bench kds                a Kinesis Data Streams endpoint
  bench ingest             RTSP ingest and recording
  bench hls                LIVE HLS and LL-HLS
  bench webrtc             WHEP forwarding
  bench webrtc-events      events on the WHEP data channel
  bench soak               every load at once for an hour: trends, errors, loss
  bench events             1,000 events/s into a camera's event stream with 200 HLS readers
  bench putmedia           PutMedia producers against RTSP ingest of the same clip

Run 'eddy COMMAND --help' (or 'eddy help COMMAND') for a command's usage and flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run runs the command named by args and returns the exit status: 0
// done (or help shown), 1 failed, 2 a command line it cannot run.
func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText) // the commands, for who typed just eddy
		return 2
	}
	err := dispatch(args)
	var ue *usage.Error
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		prefix := "eddy"
		if ue.Command != "" {
			prefix += " " + ue.Command
		}
		fmt.Fprintf(stderr, "%s: %v\n%s\n", prefix, ue.Err, ue.Hint())
		return 2
	default:
		fmt.Fprintln(stderr, "eddy:", err)
		return 1
	}
}

func dispatch(args []string) error {
	if len(args) == 0 {
		return &usage.Error{Err: errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "bench":
		return bench.Main(args[1:])
	case "publish":
		return publish(args[1:])
	case "whep":
		return whep(args[1:])
	case "putmedia":
		return putMedia(args[1:])
	case "cert":
		return cert(args[1:])
	case "restore":
		return restore(args[1:])
	case "token":
		return token(args[1:])
	case "streams", "fragments", "clip", "events", "status":
		return chores(args[0], args[1:])
	case "version", "--version", "-version":
		return version(args[1:])
	case "-h", "--help", "-help", "help":
		if len(args) > 1 && args[0] == "help" {
			// eddy help streams ls: the command's own help.
			return dispatch(append(args[1:], "--help"))
		}
		fmt.Fprint(usage.Stdout, about+"\n"+usageText)
		return nil
	}
	if strings.HasPrefix(args[0], "-") {
		return &usage.Error{Err: fmt.Errorf("flag %s before a command", args[0])}
	}
	return &usage.Error{Err: fmt.Errorf("unknown command %q", args[0])}
}
