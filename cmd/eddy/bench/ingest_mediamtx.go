package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The MediaMTX side of `eddy bench ingest --compare`: a MediaMTX binary
// started as a child with a config written here (mediamtxConfig), in a
// fresh temporary directory, recording every published path as fMP4.

// mediamtxYAML is the part of MediaMTX v1.20.1's configuration
// (mediamtx.yml) the comparison sets; every other key keeps its default.
// MediaMTX rejects a key it does not know ("json: unknown field"), so a
// binary of another version whose keys differ fails to start, saying
// which key.
type mediamtxYAML struct {
	LogLevel          string   `yaml:"logLevel"`
	UDPMaxPayloadSize int      `yaml:"udpMaxPayloadSize"`
	RTSP              bool     `yaml:"rtsp"`
	RTSPTransports    []string `yaml:"rtspTransports"`
	RTSPEncryption    string   `yaml:"rtspEncryption"`
	RTSPAddress       string   `yaml:"rtspAddress"`
	RTMP              bool     `yaml:"rtmp"`
	HLS               bool     `yaml:"hls"`
	WebRTC            bool     `yaml:"webrtc"`
	SRT               bool     `yaml:"srt"`
	MoQ               bool     `yaml:"moq"`
	API               bool     `yaml:"api"`
	Metrics           bool     `yaml:"metrics"`
	PPROF             bool     `yaml:"pprof"`
	Playback          bool     `yaml:"playback"`

	Paths map[string]mediamtxPathYAML `yaml:"paths"`
}

type mediamtxPathYAML struct {
	Record       bool   `yaml:"record"`
	RecordFormat string `yaml:"recordFormat"`
	RecordPath   string `yaml:"recordPath"`
}

// mediamtxConfig is the mediamtx.yml of a comparison: RTSP over TCP only
// on rtspAddr, every other server off (RTMP, HLS, WebRTC, SRT, MoQ, API,
// metrics, pprof, playback), and every path (all_others) recorded as
// fMP4 under recordDir, one directory per path. Segment (1 h) and part
// (1 s) durations, queue sizes and timeouts are MediaMTX's defaults; one
// setting is not: udpMaxPayloadSize is mediamtxUDPMaxPayload.
func mediamtxConfig(rtspAddr, recordDir string) ([]byte, error) {
	c := mediamtxYAML{
		LogLevel:          "info",
		UDPMaxPayloadSize: mediamtxUDPMaxPayload,
		RTSP:              true,
		RTSPTransports:    []string{"tcp"},
		RTSPEncryption:    "no",
		RTSPAddress:       rtspAddr,
		Paths: map[string]mediamtxPathYAML{
			"all_others": {
				Record:       true,
				RecordFormat: "fmp4",
				RecordPath:   filepath.Join(recordDir, "%path", "%Y-%m-%d_%H-%M-%S-%f"),
			},
		},
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte("# written by eddy bench ingest --compare: RTSP over TCP only, recording fMP4, every other server off\n"), b...), nil
}

// mediamtxUDPMaxPayload is the udpMaxPayloadSize of the comparison: the
// largest MediaMTX accepts, where its default is 1452. MediaMTX
// re-packetizes every unit of a stream whose RTP payloads exceed
// udpMaxPayloadSize − 12 bytes (1440 by default: "RTP packets are too big,
// remuxing them into smaller ones", for its UDP readers), and the bench's
// publishers send payloads of up to 1450 bytes: with the default,
// MediaMTX would be charged for work a camera sending ≤ 1440-byte
// payloads would not cause. With 1472 (1460-byte payloads) it is not; the
// run reports it as a problem if MediaMTX still logs that it remuxes.
const mediamtxUDPMaxPayload = 1472

// mediamtxRemuxLog is the log line of a MediaMTX that re-packetizes RTP.
const mediamtxRemuxLog = "RTP packets are too big"

// mediamtxLateLog is the log line of MediaMTX's fMP4 recorder when it
// drops a sample whose time is before its segment's start ("sample of
// track N received too late, discarding"): media it received but did not
// record, so less work than Eddy's side did.
const mediamtxLateLog = "received too late, discarding"

// mediamtxLogTime is the layout of the time that starts MediaMTX's log
// lines (local time, to the second).
const mediamtxLogTime = "2006/01/02 15:04:05"

// countMediaMTXLate counts the lines of lines that say MediaMTX discarded
// a late sample: all of them, and those stamped within [from, to] (to
// the second, as MediaMTX stamps them).
func countMediaMTXLate(lines []string, from, to time.Time) (all, window int) {
	from = from.Truncate(time.Second)
	for _, l := range lines {
		if !strings.Contains(l, mediamtxLateLog) {
			continue
		}
		all++
		if len(l) < len(mediamtxLogTime) {
			continue
		}
		if t, err := time.ParseInLocation(mediamtxLogTime, l[:len(mediamtxLogTime)], time.Local); err == nil && !t.Before(from) && !t.After(to) {
			window++
		}
	}
	return all, window
}

// mediamtxServer is a MediaMTX child process.
type mediamtxServer struct {
	*childProc
	dir    string // config, recordings, log
	recDir string // recordPath's root
	rtsp   string // host:port
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that was free a moment
// ago (MediaMTX takes its address from the config, not from a listener
// the bench could hand over).
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMediaMTX writes the comparison's config into a fresh temporary
// directory and starts bin with it (startMediaMTXConfig).
func startMediaMTX(ctx context.Context, bin string, logf func(string, ...any)) (*mediamtxServer, error) {
	dir, err := os.MkdirTemp("", "eddy-bench-ingest-mediamtx-")
	if err != nil {
		return nil, err
	}
	port, err := freeLoopbackPort()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conf, err := mediamtxConfig(addr, filepath.Join(dir, "recordings"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	s, err := startMediaMTXConfig(ctx, bin, dir, addr, conf, logf)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// mediamtxReady is the log line of MediaMTX's RTSP server once it listens.
const mediamtxReady = "[RTSP] started with listeners on "

// startMediaMTXConfig starts bin with conf (written to dir/mediamtx.yml)
// in dir, its output in dir/mediamtx.log, and waits until its RTSP
// server listens on addr (its log says so and a connection succeeds).
// A config MediaMTX rejects, an unknown key among others, ends it at once:
// the error then carries its output. The child's environment has no
// MTX_* or RTSP_* variable, which MediaMTX would read as settings.
func startMediaMTXConfig(ctx context.Context, bin, dir, addr string, conf []byte, logf func(string, ...any)) (*mediamtxServer, error) {
	s := &mediamtxServer{dir: dir, recDir: filepath.Join(dir, "recordings"), rtsp: addr}
	confPath := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, confPath)
	cmd.Dir = dir // MediaMTX writes anything it generates (keys) beside its config
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MTX_") && !strings.HasPrefix(kv, "RTSP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var err error
	var ready <-chan struct{}
	s.childProc, ready, err = startChildProc("MediaMTX", cmd, filepath.Join(dir, "mediamtx.log"), func(line string) bool {
		return strings.Contains(line, mediamtxReady) && strings.Contains(line, addr)
	})
	if err != nil {
		return nil, err
	}
	switch err := s.waitReady(ctx, ready, 20*time.Second, logf); {
	case errors.Is(err, errChildExited):
		return nil, fmt.Errorf("MediaMTX %s exited before listening (%v); the config the bench wrote (%s) is for v1.20.1. Its output:\n%s",
			bin, s.err, confPath, s.Tail(30))
	case errors.Is(err, errChildNotReady):
		return nil, fmt.Errorf("MediaMTX %s not listening on %s after 20s:\n%s", bin, addr, s.Tail(30))
	case err != nil:
		return nil, err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		_ = s.Stop(logf) // the error says what happened
		return nil, fmt.Errorf("MediaMTX said it listens on %s, but: %w", addr, err)
	}
	_ = c.Close()
	logf("MediaMTX: %s (pid %d) rtsp %s, recording fMP4 under %s, log %s", bin, s.pid(), addr, s.recDir, s.logPath)
	return s, nil
}

// warnings returns MediaMTX's WAR and ERR log lines
// ("2006/01/02 15:04:05 WAR …", or "ERR: …" before its logger is set up).
func (s *mediamtxServer) warnings() []string {
	var out []string
	for _, l := range s.lines() {
		if f := strings.Fields(l); (len(f) >= 3 && (f[2] == "WAR" || f[2] == "ERR")) || strings.HasPrefix(l, "ERR:") {
			out = append(out, l)
		}
	}
	return out
}

// dirBytes is the total size of the regular files under dir (0 when it
// does not exist yet).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // not there (yet), or removed during the walk
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// dirFiles counts the regular files under dir.
func dirFiles(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}
