package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The service examples are checked as far as a test can without systemd
// or a Docker daemon: their eddy command lines are ones `eddy serve`
// accepts, the ports the image exposes are the ones it listens on, and
// the hardening and the signals are there.

// readExample reads a file of examples/ as logical lines: continuations
// joined, comments and blank lines dropped.
func readExample(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	cont := ""
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cont += s + " "
			continue
		}
		lines, cont = append(lines, cont+l), ""
	}
	return lines
}

// TestExampleServiceUnit checks examples/eddy.service: a non-root user,
// the data directory systemd makes, SIGHUP on reload, SIGTERM and time to
// finish on stop, restarts, the hardening; systemd-analyze verifies it
// where installed.
func TestExampleServiceUnit(t *testing.T) {
	keys := map[string][]string{}
	for _, l := range readExample(t, "eddy.service") {
		if k, v, ok := strings.Cut(l, "="); ok {
			keys[k] = append(keys[k], v)
		}
	}
	want := map[string]string{"User": "eddy", "Group": "eddy", "ExecReload": "/bin/kill -HUP $MAINPID", "KillSignal": "SIGTERM",
		"KillMode": "mixed", "Restart": "on-failure", "StateDirectory": "eddy", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "", "WantedBy": "multi-user.target"}
	for k, v := range want {
		if !slices.Contains(keys[k], v) {
			t.Errorf("eddy.service: %s=%q; want %q", k, keys[k], v)
		}
	}
	start := strings.Fields(keys["ExecStart"][0])
	if len(start) < 2 || start[0] != "/usr/local/bin/eddy" || start[1] != "serve" {
		t.Fatalf("ExecStart=%v", start)
	}
	// The --config it names is examples/network.yaml, installed.
	args := slices.Clone(start[2:])
	if i := slices.Index(args, "--config"); i < 0 || args[i+1] != "/etc/eddy/eddy.yaml" {
		t.Errorf("ExecStart has no --config /etc/eddy/eddy.yaml: %v", args)
	} else {
		args[i+1] = filepath.Join("..", "..", "examples", "network.yaml")
	}
	cfg, err := loadConfig(args, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("eddy serve %s: %v", strings.Join(args, " "), err)
	}
	if cfg.Data != "/var/lib/eddy" {
		t.Errorf("the service's data directory is %s; want its StateDirectory, /var/lib/eddy", cfg.Data)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit is not verified")
		return
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "eddy.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify wants ExecStart's binary to exist.
	unit := filepath.Join(t.TempDir(), "eddy.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/eddy", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestExampleDockerfile checks examples/Dockerfile: two stages, a
// non-root user, the data volume, EXPOSE naming exactly the ports its
// environment makes Eddy listen on, and no way to serve those
// interfaces without credentials.
func TestExampleDockerfile(t *testing.T) {
	var from, user, volume, expose []string
	env := map[string]string{}
	final := false
	for _, l := range readExample(t, "Dockerfile") {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			from = append(from, rest)
			final = !strings.Contains(strings.ToUpper(rest), " AS ")
		case "USER":
			user = append(user, rest)
		case "VOLUME":
			volume = append(volume, rest)
		case "EXPOSE":
			expose = append(expose, strings.Fields(rest)...)
		case "ENV":
			if !final {
				continue
			}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	if len(from) < 2 || !final {
		t.Errorf("FROM %v: want a build stage and a final stage", from)
	}
	if len(user) == 0 || slices.ContainsFunc(user[len(user)-1:], func(u string) bool { return u == "root" || u == "0" || strings.HasPrefix(u, "0:") }) {
		t.Errorf("USER %v: want a non-root user last", user)
	}
	if !slices.Contains(volume, `["/data"]`) {
		t.Errorf("VOLUME %v: want /data", volume)
	}
	cfg, err := loadConfig(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != "/data" {
		t.Errorf("the image's data directory is %s; want the volume /data", cfg.Data)
	}
	var listens []string
	for _, a := range []struct{ addr, proto string }{{cfg.HTTP, "tcp"}, {cfg.RTSP, "tcp"}, {cfg.RTSPS, "tcp"},
		{cfg.RTSPUDPRTP, "udp"}, {cfg.RTSPUDPRTCP, "udp"}, {cfg.WebRTC, "udp"}, {cfg.WebRTC, "tcp"}} {
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil || host != "0.0.0.0" {
			t.Errorf("listener %q: want every interface (%v)", a.addr, err)
		}
		listens = append(listens, port+"/"+a.proto)
	}
	slices.Sort(listens)
	slices.Sort(expose)
	if !slices.Equal(listens, expose) {
		t.Errorf("EXPOSE %v; Eddy listens on %v", expose, listens)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "no credentials are configured") {
		t.Errorf("the image without credentials: %v; want a refusal", err)
	}
}
