// Package bench is the load-test harness behind `eddy bench`: Main runs
// one of four benches, each with its own flags, a text report on stdout
// and, with --json, the same figures as JSON.
//
//   - kds: PutRecords producers, GetRecords pollers and a SubscribeToShard
//     consumer against any Kinesis Data Streams endpoint (kds*.go).
//   - ingest: N looping MP4 publishers over RTSP; CPU, RSS, persist
//     latency and loss (ingest*.go).
//   - hls: LIVE HLS listing latency and hls.js-like readers, LL-HLS parts
//     with --ll (hls*.go).
//   - webrtc: WHEP forwarding latency and CPU per viewer (webrtc*.go).
//
// The video benches start the server as a child process (Server, from
// `eddy serve`; the eddy binary running the bench unless --server names
// another) so that its CPU time and memory are its own, and sample it from
// outside: /metrics, /proc CPU and RSS, pressure stall information. Tests
// of this package build the eddy binary and pass it as the server, since
// a test binary has no serve command.
//
// It is a client of Eddy's public interfaces (HTTP APIs, RTSP, WHEP,
// /metrics): it must not import the server's packages, only the client
// packages (media/rtspclient, webrtc/whepclient) and fragment numbering.
package bench
