package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is an eddy server running as a child process (`eddy serve`),
// started by a bench or by a test that needs a real process to kill.
type Server struct {
	bin     string
	cmd     *exec.Cmd
	dir     string // config, data, log
	logPath string
	url     string
	rtsp    string
	done    chan struct{}
	err     error

	mu   sync.Mutex
	logf *os.File
}

// readyLine is the log line of a server that listens, with its addresses.
var readyLine = regexp.MustCompile(`msg=ready http=(\S+) rtsp=rtsp://(\S+)`)

// childYAML is the config of a started server: RTSP over TCP only, and
// the per-address connection cap lifted to the total one, since every
// client of a bench comes from 127.0.0.1 and stands in for many addresses
// (200 HLS readers plus WHEP and KDS clients would reach the default 256).
const childYAML = `# RTSP over TCP only
rtsp_udp_rtp: ""
rtsp_udp_rtcp: ""
# the bench's clients all come from 127.0.0.1
limits:
  connections_per_address: 4096
`

// StartServer runs `bin serve` on loopback ports the OS picks, with
// childYAML as its config file, and waits for its ready line. dir holds the config (eddy.yaml),
// the data directory (data/) and the log (server.log, appended to, so a
// restart on the same dir keeps the earlier runs' lines).
func StartServer(ctx context.Context, bin, dir string, extra []string, logf func(string, ...any)) (*Server, error) {
	return startServer(ctx, bin, dir, extra, nil, logf)
}

// startServer is StartServer with env added to the child's environment
// (which otherwise has no EDDY_* variable of this process).
func startServer(ctx context.Context, bin, dir string, extra, env []string, logf func(string, ...any)) (*Server, error) {
	s := &Server{bin: bin, dir: dir, logPath: filepath.Join(dir, "server.log"), done: make(chan struct{})}
	conf := filepath.Join(dir, "eddy.yaml")
	if err := os.WriteFile(conf, []byte(childYAML), 0o644); err != nil {
		return nil, err
	}
	var err error
	if s.logf, err = os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--config", conf, "--data", filepath.Join(dir, "data"),
		"--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0", "--webrtc", "127.0.0.1:0", "--log-level", "info"}, extra...)
	s.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDDY_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Env = append(s.cmd.Env, env...)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout = s.logf
	if err := s.cmd.Start(); err != nil {
		_ = s.logf.Close()
		return nil, fmt.Errorf("start server %s: %w", bin, err)
	}
	ready := make(chan [2]string, 1)
	go func() {
		rd := bufio.NewReaderSize(stderr, 64<<10)
		sent := false
		for {
			line, err := rd.ReadString('\n')
			if len(line) > 0 {
				s.mu.Lock()
				_, _ = s.logf.WriteString(line)
				s.mu.Unlock()
				if m := readyLine.FindStringSubmatch(line); m != nil && !sent {
					sent = true
					ready <- [2]string{m[1], m[2]}
				}
			}
			if err != nil {
				break
			}
		}
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	select {
	case a := <-ready:
		s.url, s.rtsp = a[0], a[1]
	case <-s.done:
		_ = s.Stop(logf) // the error below says what happened
		return nil, fmt.Errorf("server exited before ready: %v\n%s", s.err, s.Tail(30))
	case <-time.After(20 * time.Second):
		_ = s.Stop(logf) // the error below says what happened
		return nil, fmt.Errorf("server not ready after 20s:\n%s", s.Tail(30))
	case <-ctx.Done():
		_ = s.Stop(logf) // the error below says what happened
		return nil, ctx.Err()
	}
	logf("server: %s serve (pid %d) http %s rtsp %s, log %s", bin, s.cmd.Process.Pid, s.url, s.rtsp, s.logPath)
	return s, nil
}

// URL is the server's HTTP base URL.
func (s *Server) URL() string { return s.url }

// RTSP is the server's RTSP host:port.
func (s *Server) RTSP() string { return s.rtsp }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop ends the server with SIGTERM (SIGKILL after 20 s); it returns the
// exit error.
func (s *Server) Stop(logf func(string, ...any)) error {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			logf("server did not stop 20s after SIGTERM; killing it")
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.err != nil {
		logf("server exited: %v (log %s)", s.err, s.logPath)
	}
	s.mu.Lock()
	_ = s.logf.Close()
	s.mu.Unlock()
	return s.err
}

// heapProfile asks a server started with a profile directory to write
// its live heap there now (SIGUSR1: heap-N.pprof).
func (s *Server) heapProfile() {
	_ = s.cmd.Process.Signal(syscall.SIGUSR1)
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() error {
	select {
	case <-s.done:
		return fmt.Errorf("server had already exited: %v", s.err)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		return errors.New("server still running 10s after SIGKILL")
	}
	s.mu.Lock()
	_ = s.logf.Close()
	s.mu.Unlock()
	return nil
}

// warnings returns the WARN and ERROR lines of the server's log.
func (s *Server) warnings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// logProblems returns the WARN and ERROR lines of the server's log and,
// as problems for a report, the first five of them and how many more.
func (s *Server) logProblems() (warnings, problems []string) {
	warnings = s.warnings()
	for i, l := range warnings {
		if i == 5 {
			problems = append(problems, fmt.Sprintf("server log: %d more warnings/errors", len(warnings)-i))
			break
		}
		problems = append(problems, "server log: "+l)
	}
	return warnings, problems
}

// Tail returns the last n lines of the server's log.
func (s *Server) Tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitStatus describes a process's exit (nil: status 0).
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0 (a clean shutdown: it got SIGTERM or SIGINT)"
	}
	return err.Error()
}
