package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestChoresBinary runs the built eddy's chores against a real `eddy
// serve`, found through $EDDY_ENDPOINT: what a shell script would do.
func TestChoresBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary; skipped with -short")
	}
	bin := crashBuildBinary(t)
	srv := crashStart(t, bin, t.TempDir())
	home := t.TempDir()
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(crashEnv(), "EDDY_ENDPOINT="+srv.url, "HOME="+home, "AWS_EC2_METADATA_DISABLED=true",
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "none"), "AWS_CONFIG_FILE="+filepath.Join(home, "none"))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	if out, errOut, err := run("streams", "create", "cam", "--retention", "7d"); err != nil || !strings.Contains(out, "created video stream cam (retention 7 d") {
		t.Fatalf("eddy streams create: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err := run("streams", "ls", "--json")
	var rows []streamRow
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0].Name != "cam" || rows[0].RetentionHours != 168 {
		t.Fatalf("eddy streams ls --json: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := run("status"); err != nil || !strings.Contains(out, "Eddy at "+srv.url+": ok") {
		t.Errorf("eddy status: %v\n%s%s", err, out, errOut)
	}
	_, errOut, err = run("fragments", "ls", "nope")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.HasPrefix(errOut, "eddy: ResourceNotFoundException: ") {
		t.Errorf("eddy fragments ls nope: %v\n%s", err, errOut)
	}
	// A bad command line exits 2 and points at the help.
	if _, errOut, err := run("streams", "frobnicate"); !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(errOut, "run 'eddy streams --help'") {
		t.Errorf("eddy streams frobnicate: %v\n%s", err, errOut)
	}
	if out, errOut, err := run("streams", "-h"); err != nil || !strings.Contains(out, "eddy streams ls") {
		t.Errorf("eddy streams -h: %v\n%s%s", err, out, errOut)
	}
	// Help goes to stdout and exits 0.
	if out, errOut, err := run("clip", "-h"); err != nil || !strings.Contains(out, "--retries") {
		t.Errorf("eddy clip -h: %v\n%s%s", err, out, errOut)
	}
}
