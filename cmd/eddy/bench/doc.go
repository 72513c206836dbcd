// Package bench is the load-test harness behind `eddy bench`: Main runs
// one of six benches, each with its own flags, a text report on stdout
// and, with --json, the same figures as JSON.
//
//   - kds (kds*.go): PutRecords producers, GetRecords pollers and a
//     SubscribeToShard consumer against any Kinesis Data Streams endpoint.
//   - ingest (ingest*.go): N looping MP4 publishers over RTSP; server CPU,
//     RSS, persist latency and loss (ListFragments against what was sent).
//   - hls (hls*.go): LIVE HLS listing latency and hls.js-like readers;
//     LL-HLS parts with --ll.
//   - webrtc (webrtc*.go): WHEP forwarding latency and CPU per viewer.
//   - soak (soak*.go): all of the above at once for a long run (cameras,
//     HLS readers, WHEP viewers checking frame numbers, KDS read back);
//     the slopes of the server's RSS, goroutines, open files and CPU after
//     a warm-up, every load's errors, and loss.
//   - events (events*.go): one camera, HLS readers of it, and writers
//     putting events into its event stream at a steady rate: every
//     acknowledged event read back (REST events endpoint, GetRecords), and
//     the recorder and the readers with events against a baseline window
//     without; a PASS/FAIL verdict.
//   - putmedia (putmedia*.go): one clip ingested by N streams over RTSP
//     (bench ingest's publishers), then by N PutMedia producers (package
//     cmd/eddy/putmedia) with Clusters of known, then of unknown size:
//     server CPU per stream-minute and its ratio to RTSP, and Cluster end
//     → PERSISTED ack latency timed on the producers' wire.
//
// The video benches start the server as a child process (child.go,
// server.go: `eddy serve` from the eddy binary running the bench, unless
// --server names another; bench ingest and soak can also measure a
// running server), so that its CPU time and memory are its own, and
// sample it from outside at the edges of measured windows (probe.go;
// bench soak every interval): /metrics parsed with expfmt (metrics.go),
// /proc CPU, RSS and open files (proc.go), pressure stall information,
// and this process's own scheduling stalls (stalls.go). cli.go and
// report.go hold what the commands share: flag parsing, signals, reports.
// Tests of this package build the eddy binary and pass it as the server,
// since a test binary has no serve command.
//
// It is a client of Eddy's public interfaces (HTTP APIs, RTSP, WHEP,
// /metrics): it must not import the server side (server, hls, webrtc,
// datastreams), only the client packages (media/rtspclient,
// webrtc/whepclient, cmd/eddy/putmedia) and the fragment numbering of
// package fragments.
// StartServer and ListFragments are exported for cmd/eddy's crash tests.
package bench
