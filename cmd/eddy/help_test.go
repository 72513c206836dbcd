package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/eddy-video/eddy/server"
)

var update = flag.Bool("update", false, "rewrite the --help golden files of testdata/help")

// helpCommands are the commands whose --help is checked against
// testdata/help/NAME.golden: every command eddy --help lists.
var helpCommands = [][]string{
	{}, {"serve"}, {"cert"}, {"restore"}, {"version"},
	{"streams"}, {"streams", "ls"}, {"streams", "create"}, {"streams", "rm"}, {"streams", "retention"},
	{"fragments", "ls"}, {"clip"}, {"events", "tail"}, {"status"}, {"token"},
	{"publish"}, {"putmedia"}, {"whep"},
	{"bench"}, {"bench", "kds"}, {"bench", "ingest"}, {"bench", "hls"}, {"bench", "webrtc"},
	{"bench", "webrtc-events"}, {"bench", "soak"}, {"bench", "events"}, {"bench", "putmedia"},
}

// helpEnv is an environment without the variables that set defaults
// shown in the help ($EDDY_ENDPOINT, $AWS_REGION, ...), and with a fixed
// home (the benches name their cache under it), so the golden files do
// not depend on who runs the test. Nothing is written there.
var helpEnv = []string{"PATH=" + os.Getenv("PATH"), "HOME=/home/eddy"}

// runEddy runs the binary and returns its stdout, stderr and exit status.
func runEddy(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = helpEnv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("eddy %s: %v", strings.Join(args, " "), err)
	return "", "", 0
}

// TestHelp checks every command's help against its golden file (go test
// -run TestHelp -update rewrites them): -h, --help and eddy help NAME
// print the same on stdout, nothing on stderr, and exit 0.
func TestHelp(t *testing.T) {
	bin := crashBuildBinary(t)
	listed := map[string]bool{}
	top, _, _ := runEddy(t, bin, "--help")
	// The commands are the lines "  NAME   what it does" (or "  NAME"
	// alone), "streams ls|create|rm|retention" naming four.
	for _, line := range strings.Split(top, "\n") {
		rest, ok := strings.CutPrefix(line, "  ")
		if !ok || rest == "" || rest[0] < 'a' || rest[0] > 'z' {
			continue
		}
		name, _, _ := strings.Cut(rest, "   ")
		cmd, subs, found := strings.Cut(strings.TrimSpace(name), " ")
		if !found || !strings.Contains(subs, "|") {
			listed[strings.TrimSpace(name)] = true
			continue
		}
		for _, sub := range strings.Split(subs, "|") {
			listed[cmd+" "+sub] = true
		}
	}
	// The README documents every command the help lists, and its
	// "Command line" section help, version and publish.
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range listed {
		if !bytes.Contains(readme, []byte("eddy "+name)) {
			t.Errorf("README does not mention eddy %s", name)
		}
	}
	_, section, _ := strings.Cut(string(readme), "\n## Command line\n")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, s := range []string{"eddy --help", "eddy COMMAND --help", "eddy serve --help", "eddy version", "eddy publish", "--loop", "--progress"} {
		if !strings.Contains(section, s) {
			t.Errorf("README's Command line section does not mention %s", s)
		}
	}
	for _, cmd := range helpCommands {
		name := strings.Join(cmd, " ")
		if name == "" {
			name = "eddy"
		} else if !listed[name] && name != "streams" && name != "bench" {
			t.Errorf("eddy --help does not list %q", name)
		}
		delete(listed, name)
		t.Run(name, func(t *testing.T) {
			var outs []string
			for _, args := range [][]string{append(slices.Clone(cmd), "--help"), append(slices.Clone(cmd), "-h"), append([]string{"help"}, cmd...)} {
				out, errOut, code := runEddy(t, bin, args...)
				if code != 0 || errOut != "" || out == "" {
					t.Errorf("eddy %s: exit %d, stderr %q, %d bytes on stdout; want 0, nothing, the help", strings.Join(args, " "), code, errOut, len(out))
				}
				outs = append(outs, out)
			}
			if outs[1] != outs[0] || outs[2] != outs[0] {
				t.Errorf("-h, --help and eddy help differ:\n%s\n---\n%s\n---\n%s", outs[0], outs[1], outs[2])
			}
			golden := filepath.Join("testdata", "help", strings.ReplaceAll(name, " ", "_")+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(outs[0]), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestHelp -update writes it)", err)
			}
			if outs[0] != string(want) {
				t.Errorf("help differs from %s (go test -run TestHelp -update rewrites it):\n%s", golden, outs[0])
			}
			if name != "eddy" && name != "streams" && name != "bench" && !strings.HasPrefix(outs[0], "usage: eddy "+name) {
				t.Errorf("help does not start with its usage line:\n%s", outs[0])
			}
		})
	}
	for name := range listed {
		t.Errorf("eddy --help lists %q, which has no golden help", name)
	}
}

// TestBadCommandLines checks that a command line eddy cannot run exits 2
// with the error and a hint on stderr, and nothing on stdout; and that
// a failed run exits 1.
func TestBadCommandLines(t *testing.T) {
	bin := crashBuildBinary(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: eddy COMMAND [flags] [arguments]\n"},
		{[]string{"nosuch"}, "eddy: unknown command \"nosuch\"\nrun 'eddy --help' for the commands\n"},
		{[]string{"--data", "x"}, "eddy: flag --data before a command\n"},
		{[]string{"serve", "--nosuch"}, "eddy serve: flag provided but not defined: -nosuch\nrun 'eddy serve --help' for its usage\n"},
		{[]string{"serve", "--sync-interval", "soon"}, "eddy serve: invalid value \"soon\" for flag -sync-interval: "},
		{[]string{"serve", "extra"}, "eddy serve: unexpected argument \"extra\"\n"},
		{[]string{"streams"}, "eddy streams: want a command: ls, create, rm or retention\nrun 'eddy streams --help' for its usage\n"},
		{[]string{"streams", "nosuch"}, "eddy streams: unknown command \"nosuch\": want ls, create, rm or retention\n"},
		{[]string{"streams", "rm"}, "eddy streams rm: want 1 argument(s), got 0\nrun 'eddy streams rm --help' for its usage\n"},
		{[]string{"clip", "--nosuch"}, "eddy clip: flag provided but not defined: -nosuch\n"},
		{[]string{"bench"}, "eddy bench: want a benchmark: kds, ingest"},
		{[]string{"bench", "nosuch"}, "eddy bench: unknown benchmark \"nosuch\""},
		{[]string{"bench", "hls", "--nosuch"}, "eddy bench hls: flag provided but not defined: -nosuch\nrun 'eddy bench hls --help' for its usage\n"},
		{[]string{"publish", "a.mp4"}, "eddy publish: want a file and a URL, got 1 arguments\n"},
		{[]string{"putmedia"}, "eddy putmedia: want a SOURCE and a STREAM, got 0 arguments\n"},
		{[]string{"whep"}, "eddy whep: want the WHEP URL, got 0 arguments\n"},
		{[]string{"token"}, "eddy token: want --stream and at least one --action\n"},
		{[]string{"cert", "x"}, "eddy cert: unexpected argument \"x\"\n"},
		{[]string{"version", "x"}, "eddy version: unexpected argument \"x\"\n"},
	} {
		out, errOut, code := runEddy(t, bin, c.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, c.want) {
			t.Errorf("eddy %s: exit %d, stdout %q, stderr %q; want 2, nothing, %q...", strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
	// A run that fails (here: no such file) is status 1, without a hint.
	_, errOut, code := runEddy(t, bin, "publish", filepath.Join(t.TempDir(), "none.mp4"), "rtsp://127.0.0.1:1/x")
	if code != 1 || !strings.HasPrefix(errOut, "eddy: ") || strings.Contains(errOut, "--help") {
		t.Errorf("eddy publish of a missing file: exit %d, stderr %q; want 1 and the error", code, errOut)
	}
}

// TestVersion runs eddy version from a binary go build made (which
// records the revision when built in a git checkout) and checks what it
// prints against the build info the binary carries (go version -m).
func TestVersion(t *testing.T) {
	bin := crashBuildBinary(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errOut, code := runEddy(t, bin, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("eddy %s: exit %d, stderr %q", args[0], code, errOut)
		}
		m, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		info := string(m)
		modVersion := regexp.MustCompile(`(?m)^\tmod\tgithub.com/eddy-video/eddy\t(\S+)`).FindStringSubmatch(info)
		goVersion := regexp.MustCompile(`^\S+: (go\S+)`).FindStringSubmatch(info)
		if modVersion == nil || goVersion == nil {
			t.Fatalf("go version -m:\n%s", info)
		}
		want := "eddy " + modVersion[1] + "\n"
		if rev := regexp.MustCompile(`(?m)^\tbuild\tvcs.revision=(\S+)`).FindStringSubmatch(info); rev != nil {
			want += "revision: " + rev[1]
		} else {
			want += "revision: not recorded"
		}
		if !strings.HasPrefix(out, want) || !strings.Contains(out, "\ngo: "+goVersion[1]+" ") {
			t.Errorf("eddy %s:\n%s\nwant it to start %q and name %s", args[0], out, want, goVersion[1])
		}
	}
}

// TestServeFlagsConfigKeys checks, for every flag of eddy serve, that the
// YAML key and EDDY_* variable its help names really set the setting the
// flag sets: a value given by the variable, by the YAML file, and by the
// flag ends in the same field, and differs from the default.
func TestServeFlagsConfigKeys(t *testing.T) {
	def := server.DefaultConfig()
	// What the help says of each flag.
	var help bytes.Buffer
	helpFlags := serveFlags(&def, "")
	helpFlags.SetOutput(&help)
	helpFlags.Usage()
	keys, envs := map[string]string{}, map[string]string{}
	named := regexp.MustCompile(`(?m)^  --(\S+).*\n.*\n        (?:YAML: (\S+)    )?environment: (\S+)$`)
	for _, m := range named.FindAllStringSubmatch(help.String(), -1) {
		keys[m[1]], envs[m[1]] = m[2], m[3]
	}
	fs := serveFlags(&def, "")
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			if envs[f.Name] != "EDDY_CONFIG" {
				t.Errorf("the help names %q as --config's variable", envs[f.Name])
			}
			return
		}
		n++
		key, env := keys[f.Name], envs[f.Name]
		if key == "" || env == "" {
			t.Errorf("the help of --%s names no YAML key or variable:\n%s", f.Name, help.String())
			return
		}
		value, yamlValue := testValue(t, settingOf(t, &def, key))
		noEnv := func(string) (string, bool) { return "", false }

		byEnv, err := loadConfig(nil, func(k string) (string, bool) {
			if k == env {
				return value, true
			}
			return "", false
		})
		if err != nil {
			t.Errorf("%s=%s: %v", env, value, err)
			return
		}
		file := filepath.Join(t.TempDir(), "eddy.yaml")
		doc := map[string]any{}
		m := doc
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			next := map[string]any{}
			m[p] = next
			m = next
		}
		m[parts[len(parts)-1]] = yamlValue
		data, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		byFile, err := loadConfig([]string{"--config", file}, noEnv)
		if err != nil {
			t.Errorf("YAML %s: %v", strings.TrimSpace(string(data)), err)
			return
		}
		byFlag, err := loadConfig([]string{"--" + f.Name + "=" + value}, noEnv)
		if err != nil {
			t.Errorf("--%s=%s: %v", f.Name, value, err)
			return
		}
		got := settingOf(t, &byEnv, key).Interface()
		if reflect.DeepEqual(got, settingOf(t, &def, key).Interface()) {
			t.Errorf("%s=%s left %s at its default %v", env, value, key, got)
		}
		if fromFile := settingOf(t, &byFile, key).Interface(); !reflect.DeepEqual(got, fromFile) {
			t.Errorf("%s: %v from %s, %v from the YAML file", key, got, env, fromFile)
		}
		if fromFlag := settingOf(t, &byFlag, key).Interface(); !reflect.DeepEqual(got, fromFlag) {
			t.Errorf("%s: %v from %s, %v from --%s", key, got, env, fromFlag, f.Name)
		}
	})
	if n < 15 {
		t.Fatalf("checked %d flags", n)
	}
}

// settingOf is cfg's field of key.
func settingOf(t *testing.T, cfg *server.Config, key string) reflect.Value {
	t.Helper()
	for _, s := range configSettings(cfg) {
		if s.key == key {
			return s.field
		}
	}
	t.Fatalf("no setting %s", key)
	return reflect.Value{}
}

// testValue is a value unlike the default for a setting, as a flag and
// an environment variable write it, and as YAML does.
func testValue(t *testing.T, v reflect.Value) (string, any) {
	t.Helper()
	switch v.Interface().(type) {
	case server.Duration:
		return "7s", "7s"
	case server.FreeSpace:
		return "7%", "7%"
	case []string:
		return "a.example,b.example", []string{"a.example", "b.example"}
	case bool:
		s := "true"
		if v.Bool() {
			s = "false"
		}
		return s, s == "true"
	case string:
		return "test-" + v.String() + "-value", "test-" + v.String() + "-value"
	}
	t.Fatalf("no test value for a %s", v.Type())
	return "", nil
}

// TestVersionText formats the build info a go build in a git checkout
// records (the test binaries record none).
func TestVersionText(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/eddy-video/eddy", Version: "v0.16.0"},
		Settings: []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "63a5406c0ffee"},
			{Key: "vcs.time", Value: "2026-12-07T08:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := "eddy v0.16.0\nrevision: 63a5406c0ffee (2026-12-07T08:00:00Z), with uncommitted changes\ngo: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := versionText(info); got != want {
		t.Errorf("versionText:\n%s\nwant:\n%s", got, want)
	}
	info.Settings = info.Settings[:3]
	if got := versionText(info); !strings.Contains(got, "revision: 63a5406c0ffee (2026-12-07T08:00:00Z)\n") {
		t.Errorf("versionText of a clean checkout:\n%s", got)
	}
}

// TestYAMLOnlyDocs: every setting of server.Config without a flag has a
// line in eddy serve --help, and every line names such a setting.
func TestYAMLOnlyDocs(t *testing.T) {
	def := server.DefaultConfig()
	all := configSettings(&def)
	flagged := map[string]bool{}
	for _, k := range flagKeys(serveFlags(&def, ""), all) {
		flagged[k] = true
	}
	yamlOnly := map[string]bool{}
	for _, s := range all {
		if flagged[s.key] {
			continue
		}
		yamlOnly[s.key] = true
		if yamlOnlyDocs[s.key] == "" {
			t.Errorf("%s: no line in yamlOnlyDocs (servehelp.go) says what it does", s.key)
		}
	}
	for k := range yamlOnlyDocs {
		if !yamlOnly[k] {
			t.Errorf("yamlOnlyDocs describes %s, which is not a YAML-only setting of server.Config", k)
		}
	}
	if len(yamlOnly) < 30 {
		t.Fatalf("%d YAML-only settings: the walk of server.Config missed some", len(yamlOnly))
	}
}
