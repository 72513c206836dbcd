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

// childProc is a server started as a child process (Eddy or, in a
// comparison, MediaMTX): its output (stdout and stderr) appended to a log
// file, read line by line until a ready line, its exit awaited.
type childProc struct {
	name    string // in messages: "the server", "MediaMTX"
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error

	mu   sync.Mutex
	logf *os.File
}

// errChildExited and errChildNotReady are what waitReady returns when the
// process exited before its ready line or had none after the timeout.
var (
	errChildExited   = errors.New("exited before it was ready")
	errChildNotReady = errors.New("not ready in time")
)

// startChildProc starts cmd (whose Stdout and Stderr it sets), its output
// appended to logPath. ready is called with each output line until it
// returns true; the channel returned is closed then.
func startChildProc(name string, cmd *exec.Cmd, logPath string, ready func(line string) bool) (*childProc, <-chan struct{}, error) {
	c := &childProc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	var err error
	if c.logf, err = os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = c.logf.Close()
		return nil, nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		_ = c.logf.Close()
		return nil, nil, fmt.Errorf("start %s %s: %w", name, cmd.Path, err)
	}
	readyc := make(chan struct{})
	go func() {
		rd := bufio.NewReaderSize(out, 64<<10)
		sent := false
		for {
			line, err := rd.ReadString('\n')
			if len(line) > 0 {
				c.mu.Lock()
				_, _ = c.logf.WriteString(line)
				c.mu.Unlock()
				if !sent && ready(line) {
					sent = true
					close(readyc)
				}
			}
			if err != nil {
				break
			}
		}
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, readyc, nil
}

// waitReady waits for ready (from startChildProc) at most d. When the
// process exits first (errChildExited), has no ready line after d
// (errChildNotReady) or ctx ends (its error), it stops the process.
func (c *childProc) waitReady(ctx context.Context, ready <-chan struct{}, d time.Duration, logf func(string, ...any)) error {
	var err error
	select {
	case <-ready:
		return nil
	case <-c.done:
		err = errChildExited
	case <-time.After(d):
		err = errChildNotReady
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = c.Stop(logf) // the caller's error says what happened
	return err
}

// pid is the child's process id.
func (c *childProc) pid() int { return c.cmd.Process.Pid }

// Done is closed when the process has exited.
func (c *childProc) Done() <-chan struct{} { return c.done }

// Stop ends the process with SIGTERM (SIGKILL after 20 s); it returns
// the exit error.
func (c *childProc) Stop(logf func(string, ...any)) error {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			logf("%s did not stop 20s after SIGTERM; killing it", c.name)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	c.mu.Lock()
	_ = c.logf.Close()
	c.mu.Unlock()
	return c.err
}

// watch returns ctx, ended with an error that carries the process's last
// log lines if it exits before the run is over (a crash, or a signal from
// outside): the run then stops with that error instead of a report of
// reconnects.
func (c *childProc) watch(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-c.done:
			cancel(fmt.Errorf("%s (pid %d) exited during the run: %v; the bench did not stop it. Its last log lines:\n%s",
				c.name, c.pid(), exitStatus(c.err), c.Tail(25)))
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// lines returns the process's output so far, line by line.
func (c *childProc) lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// Tail returns the last n lines of the process's output.
func (c *childProc) Tail(n int) string {
	l := c.lines()
	return strings.Join(l[max(len(l)-n, 0):], "\n")
}

// logLines returns the process's output lines that contain sub.
func (c *childProc) logLines(sub string) []string {
	var out []string
	for _, l := range c.lines() {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

// Server is an eddy server running as a child process (`eddy serve`),
// started by a bench or by a test that needs a real process to kill.
type Server struct {
	*childProc
	bin  string
	dir  string // config, data, log
	url  string
	rtsp string
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
	s := &Server{bin: bin, dir: dir}
	conf := filepath.Join(dir, "eddy.yaml")
	if err := os.WriteFile(conf, []byte(childYAML), 0o644); err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--config", conf, "--data", filepath.Join(dir, "data"),
		"--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0", "--webrtc", "127.0.0.1:0", "--log-level", "info"}, extra...)
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDDY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var err error
	var ready <-chan struct{}
	s.childProc, ready, err = startChildProc("the server", cmd, filepath.Join(dir, "server.log"), func(line string) bool {
		m := readyLine.FindStringSubmatch(line)
		if m != nil {
			s.url, s.rtsp = m[1], m[2] // read after ready is closed
		}
		return m != nil
	})
	if err != nil {
		return nil, err
	}
	switch err := s.waitReady(ctx, ready, 20*time.Second, logf); {
	case errors.Is(err, errChildExited):
		return nil, fmt.Errorf("server exited before ready: %v\n%s", s.err, s.Tail(30))
	case errors.Is(err, errChildNotReady):
		return nil, fmt.Errorf("server not ready after 20s:\n%s", s.Tail(30))
	case err != nil:
		return nil, err
	}
	logf("server: %s serve (pid %d) http %s rtsp %s, log %s", bin, s.pid(), s.url, s.rtsp, s.logPath)
	return s, nil
}

// URL is the server's HTTP base URL.
func (s *Server) URL() string { return s.url }

// RTSP is the server's RTSP host:port.
func (s *Server) RTSP() string { return s.rtsp }

// Stop ends the server with SIGTERM (SIGKILL after 20 s); it returns the
// exit error.
func (s *Server) Stop(logf func(string, ...any)) error {
	err := s.childProc.Stop(logf)
	if err != nil {
		logf("server exited: %v (log %s)", err, s.logPath)
	}
	return err
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
	var out []string
	for _, l := range s.lines() {
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

// exitStatus describes a process's exit (nil: status 0).
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0 (a clean shutdown: it got SIGTERM or SIGINT)"
	}
	return err.Error()
}
