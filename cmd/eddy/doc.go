// Command eddy is the Eddy server and its client tools.
//
//	eddy serve [flags]        run the server
//	eddy bench kds [flags]    load-test a Kinesis Data Streams endpoint
//	eddy bench ingest [flags] load-test RTSP ingest and recording
//	eddy bench hls [flags]    benchmark LIVE HLS and LL-HLS
//	eddy bench webrtc [flags] benchmark WHEP forwarding
//	eddy bench webrtc-events  benchmark events on the WHEP data channel
//	eddy bench putmedia       PutMedia producers against RTSP ingest
//	eddy publish [flags] FILE RTSP-URL  publish an MP4 file over RTSP in real time
//	eddy putmedia [flags] SOURCE STREAM upload a file or a camera with Kinesis Video PutMedia
//	eddy whep [flags] URL     play a stream over WebRTC (WHEP)
//	eddy cert [--host NAME]   write a self-signed TLS certificate and key
//	eddy token                get a bearer token for WHIP/WHEP
//	eddy streams ls|create|rm|retention, eddy fragments ls, eddy clip,
//	eddy events tail, eddy status   the daily chores against a running server
//	eddy version              the module version, VCS revision and Go version
//
// Every command reads its command line through cmd/eddy/internal/usage:
// -h and --help print the command's help on stdout and exit 0 (eddy help
// NAME likewise), a command line it cannot run exits 2 with the error
// and a hint, a failed run exits 1. The help texts are golden files
// (testdata/help, rewritten by go test -run TestHelp -update); eddy serve's
// names each flag's YAML key and EDDY_* variable and the YAML-only
// settings, found in server.Config by reflection (servehelp.go).
//
// Each subcommand is a file of this package, except the load-test harness
// of `eddy bench`, which is package cmd/eddy/bench (bench.Main), and the
// PutMedia producer of `eddy putmedia`, package cmd/eddy/putmedia. The
// clients they use are media/rtspclient (the MP4 publisher) and
// webrtc/whepclient (the WHEP/WHIP client). The chores (chores.go and the
// files it names) are clients of a running server over its public APIs
// only, through the AWS SDK for Go with the credentials the SDKs find; they
// never read the data directory.
//
// eddy serve reloads its configuration (server.Server.Reload) on SIGHUP
// and when the content of its configuration file changes (watch.go).
//
// The package must not hold domain logic: it parses flags and calls the
// packages that do the work. Its tests are the ones that need the real
// binary or a real server: kill -9 crash tests (crash_test.go,
// crash_video_test.go), SIGTERM shutdown, the chores against servertest,
// and the import direction of the whole module (imports_test.go).
package main
