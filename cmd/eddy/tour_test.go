package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// tourBlock is a fenced code block of the README's tour.
type tourBlock struct {
	lang string // sh, python or go
	line int    // README.md line of its first line of code
	code string
}

// readTour returns the code blocks between the README's tour:begin and
// tour:end markers, and the README text before the begin marker.
func readTour(t *testing.T, readme string) (before string, blocks []tourBlock) {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	begin := strings.Index(text, "<!-- tour:begin")
	end := strings.Index(text, "<!-- tour:end -->")
	if begin < 0 || end < begin {
		t.Fatalf("%s has no <!-- tour:begin ... --> … <!-- tour:end --> markers", readme)
	}
	line := strings.Count(text[:begin], "\n") + 1
	sc := bufio.NewScanner(strings.NewReader(text[begin:end]))
	var cur *tourBlock
	for ; sc.Scan(); line++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			lang := strings.TrimPrefix(l, "```")
			if lang != "sh" && lang != "python" && lang != "go" {
				t.Fatalf("README.md:%d: a %q block in the tour; it runs sh and python blocks, checks go blocks, and has no other kind", line, lang)
			}
			cur = &tourBlock{lang: lang, line: line + 1}
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.code += l + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: the tour's block is not closed", cur.line)
	}
	return text[:begin], blocks
}

// TestReadmeTour runs the README's "A five-minute tour" as a newcomer
// pastes it: every sh block, in order, in one bash (set -euo pipefail),
// from the repository's root, with the python blocks run by python3
// where they stand, against a fresh `eddy serve` on free ports (the
// tour's 127.0.0.1:8080 and 127.0.0.1:8554 are replaced by the server's
// addresses). Each go block must be a verbatim excerpt of a program under
// examples/, which the sh blocks run. A failing block fails the test with
// the block shown; then the output must show what each step is for, and
// the tour must have deleted what it made.
func TestReadmeTour(t *testing.T) {
	mediatest.RequireTool(t, "bash", "curl", "ffmpeg", "ffprobe", "python3", "go")
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		mediatest.Missing(t, "python3 cannot import boto3 (apt-get install python3-boto3)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	before, blocks := readTour(t, filepath.Join(root, "README.md"))
	// The server the reader starts is the one the test starts.
	heading := strings.LastIndex(before, "## A five-minute tour")
	if heading < 0 || !strings.Contains(before[heading:], "```sh\ngo run ./cmd/eddy serve\n```") {
		t.Fatal("the tour does not start with the block `go run ./cmd/eddy serve`, the server this test runs")
	}
	ports := regexp.MustCompile(`(?:127\.0\.0\.1|localhost):(\d+)`)
	for _, b := range blocks {
		for _, m := range ports.FindAllStringSubmatch(b.code, -1) {
			if m[0] != "127.0.0.1:8080" && m[0] != "127.0.0.1:8554" {
				t.Fatalf("README.md:%d: the tour names %s; the test maps 127.0.0.1:8080 (HTTP) and 127.0.0.1:8554 (RTSP) only", b.line, m[0])
			}
		}
		if b.lang == "go" {
			if where := findExcerpt(t, filepath.Join(root, "examples"), b.code); where == "" {
				t.Fatalf("README.md:%d: this go block is not an excerpt of a program under examples/ (it must be verbatim, so CI builds what the README shows):\n%s", b.line, b.code)
			}
		}
	}

	clis := awsCLIs(t)
	bin := crashBuildBinary(t)
	for _, cli := range clis {
		t.Run(cli.name, func(t *testing.T) { runReadmeTour(t, root, bin, cli.path, blocks) })
	}
}

// awsCLI is an AWS CLI the tour runs with.
type awsCLI struct{ name, path string }

// awsCLIs returns the AWS CLIs on this machine, one per major version
// (the one on PATH first; Debian's at /usr/bin/aws): the tour's commands
// must work with v1 and v2, whose blobs differ. CI installs Debian's v2
// only (pip's v1 needs PyPI, which CI does not reach), so there v2 must be
// found and v1 is checked where it happens to be installed; the test logs
// which versions it runs and which it does not.
func awsCLIs(t *testing.T) []awsCLI {
	t.Helper()
	var clis []awsCLI
	seen := map[string]bool{}
	candidates := []string{"/usr/bin/aws"}
	if p, err := exec.LookPath("aws"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	for _, p := range candidates {
		out, err := exec.Command(p, "--version").CombinedOutput()
		m := regexp.MustCompile(`^aws-cli/(\d+)\.`).FindSubmatch(out)
		if err != nil || m == nil {
			continue
		}
		if name := "aws-cli-v" + string(m[1]); !seen[name] {
			seen[name] = true
			clis = append(clis, awsCLI{name, p})
			t.Logf("the tour runs with %s: %s (%s)", name, p, strings.TrimSpace(string(out)))
		}
	}
	if len(clis) == 0 {
		mediatest.Missing(t, "no AWS CLI answers aws --version (apt-get install awscli)")
	}
	for _, v := range []struct{ name, install string }{
		{"aws-cli-v2", "apt-get install awscli"},
		{"aws-cli-v1", "pip install awscli"},
	} {
		switch {
		case seen[v.name]:
		case v.name == "aws-cli-v2" && os.Getenv("CI") != "":
			t.Fatalf("no AWS CLI v2 (%s), the version CI checks the tour with", v.install)
		default:
			t.Logf("the tour does not run with %s here: none installed (%s)", v.name, v.install)
		}
	}
	return clis
}

// runReadmeTour runs the tour's blocks against a fresh server, with cli as
// the shell's aws.
func runReadmeTour(t *testing.T, root, bin, cli string, blocks []tourBlock) {
	srv := crashStart(t, bin, t.TempDir(), "--throttle=true")
	rtsp := regexp.MustCompile(`msg=ready .*rtsp=rtsp://(\S+)`).FindStringSubmatch(srv.log())
	if rtsp == nil {
		t.Fatalf("no RTSP address in the server's ready line:\n%s", srv.log())
	}
	replacer := strings.NewReplacer("127.0.0.1:8080", strings.TrimPrefix(srv.url, "http://"), "127.0.0.1:8554", rtsp[1])

	// One script: the blocks in order, each preceded by its number, so that
	// the EXIT trap names the one that failed.
	dir := t.TempDir()
	var script strings.Builder
	script.WriteString("set -euo pipefail\ntour_block=0\ntrap 'rc=$?; if [ $rc -ne 0 ]; then echo \"tour: block $tour_block failed (exit $rc)\"; fi' EXIT\n")
	for i, b := range blocks {
		code := replacer.Replace(b.code)
		switch b.lang {
		case "sh":
			fmt.Fprintf(&script, "tour_block=%d\necho '---- tour block %d (README.md:%d)'\n%s", i, i, b.line, code)
		case "python":
			file := filepath.Join(dir, fmt.Sprintf("block%d.py", i))
			if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&script, "tour_block=%d\necho '---- tour block %d (README.md:%d)'\npython3 %s\n", i, i, b.line, file)
		}
	}
	scriptFile := filepath.Join(dir, "tour.sh")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The shell finds cli as aws.
	bindir := t.TempDir()
	if err := os.Symlink(cli, filepath.Join(bindir, "aws")); err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir() // the tour's mktemp -d, and go run's work
	out, runErr := runTour(t, root, scriptFile, scratch, bindir, 5*time.Minute)
	t.Logf("tour output:\n%s", out)
	if runErr != nil {
		if m := regexp.MustCompile(`tour: block (\d+) failed \(exit (\d+)\)`).FindStringSubmatch(out); m != nil {
			i, _ := strconv.Atoi(m[1])
			b := blocks[i]
			t.Fatalf("the tour's block at README.md:%d (%s) failed with exit status %s:\n%s", b.line, b.lang, m[2], b.code)
		}
		t.Fatalf("the tour: %v", runErr)
	}

	// What each step is for shows in its output.
	for _, want := range []struct{ what, re string }{
		{"the CLI lists the two shards", `(?m)^shardId-000000000000\tshardId-000000000001$`},
		{"examples/put-records writes 10 records", `(?m)^10 records written to detections$`},
		{"examples/read-stream reads the CLI's record and the 10", `(?m)^11 records$`},
		{"read-stream prints the CLI's record", `(?m)^shardId-\d{12} cam1 \d+ \{"label":"person","score":0\.91\}$`},
		{"the boto3 block reads its record back", `(?m)^shardId-\d{12} cam2 \{"label":"car"\}$`},
		{"the CLI lists the video stream", `(?m)^door\tACTIVE\t24$`},
		{"examples/list-fragments lists fragments without gaps", `(?m)^[1-9]\d* fragments, \S+ recorded, \d+ bytes, 0 gaps$`},
		{"ffprobe reads the clip", `(?m)^duration=\d+\.\d+$`},
		{"the HLS session's master playlist", `(?m)^#EXTM3U$`},
		{"ffprobe reads the WHEP recording", `(?m)^h264,320,240$`},
		{"the detection read back", `\{"events":\[\{"id":"\d+","type":"detection","time":"[^"]+","duration":1\.5,"label":"person"`},
		{"the detection on the timeline", `\{"kind":"event","event":\{"id":"\d+","type":"detection"`},
		{"examples/follow-camera saves the person's clip", `(?m)^clip \S+\.mp4  [1-9]\d* bytes  `},
	} {
		if !regexp.MustCompile(want.re).MatchString(out) {
			t.Errorf("the tour's output does not show %s (%s)", want.what, want.re)
		}
	}
	if m := regexp.MustCompile(`(?m)^duration=(\d+\.\d+)$`).FindStringSubmatch(out); m != nil {
		if d, _ := strconv.ParseFloat(m[1], 64); d < 4 {
			t.Errorf("the clip of the last five minutes lasts %.1f s; the camera published for 10 s before it", d)
		}
	}

	// And it deleted what it made.
	ctx := servertest.Context(t, 30*time.Second)
	kds := servertest.KinesisAt(srv.url)
	streams, err := kds.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(streams.StreamNames) != 0 {
		t.Errorf("data streams left after the tour: %v", streams.StreamNames)
	}
	kvs := kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", Credentials: servertest.Credentials, BaseEndpoint: aws.String(srv.url)})
	videos, err := kvs.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(videos.StreamInfoList) != 0 {
		t.Errorf("%d video streams left after the tour", len(videos.StreamInfoList))
	}
}

// findExcerpt returns the file under dir that holds code verbatim, or "".
func findExcerpt(t *testing.T, dir, code string) string {
	t.Helper()
	found := ""
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" || !strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), code) {
			found = path
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// runTour runs the script with bash from root, in a process group of its
// own so that whatever the tour left running in the background (its
// camera, when a block failed before the one that stops it) is killed
// with it. Its output goes to a file: a background process that keeps a
// pipe open would otherwise hold the wait.
func runTour(t *testing.T, root, script, scratch, bindir string, timeout time.Duration) (string, error) {
	t.Helper()
	outFile, err := os.Create(filepath.Join(t.TempDir(), "tour.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	var env []string
	for _, kv := range os.Environ() {
		// The tour sets its own AWS settings; a profile or region of the
		// machine's must not change them.
		switch {
		case strings.HasPrefix(kv, "PATH="):
			env = append(env, "PATH="+bindir+string(os.PathListSeparator)+strings.TrimPrefix(kv, "PATH="))
		case !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "EDDY_") && !strings.HasPrefix(kv, "TMPDIR="):
			env = append(env, kv)
		}
	}
	cmd := exec.Command("bash", script)
	cmd.Dir = root
	cmd.Env = append(env, "TMPDIR="+scratch)
	cmd.Stdout, cmd.Stderr = outFile, outFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var runErr error
	select {
	case runErr = <-done:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		runErr = fmt.Errorf("not done after %s (%v)", timeout, <-done)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group's leftovers, if any
	b, err := os.ReadFile(outFile.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b), runErr
}

// TestExamplesListed: every program under examples/ (a directory with a
// main.go) has a test of its own and is listed in the README's Examples
// table and in examples/README.md, and neither lists one that is gone.
func TestExamplesListed(t *testing.T) {
	root := filepath.Join("..", "..")
	entries, err := os.ReadDir(filepath.Join(root, "examples"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "\n## Examples\n"); i >= 0 {
		section = section[i+1:]
		if j := strings.Index(section[1:], "\n## "); j >= 0 {
			section = section[:j+1]
		}
	} else {
		t.Fatal("README.md has no Examples section")
	}
	list, err := os.ReadFile(filepath.Join(root, "examples", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	programs := map[string]bool{}
	for _, e := range entries {
		dir := filepath.Join(root, "examples", e.Name())
		if _, err := os.Stat(filepath.Join(dir, "main.go")); !e.IsDir() || err != nil {
			continue
		}
		programs[e.Name()] = true
		if _, err := os.Stat(filepath.Join(dir, "main_test.go")); err != nil {
			t.Errorf("examples/%s has no main_test.go: every example runs against a real server in CI", e.Name())
		}
		if !strings.Contains(section, "| [`"+e.Name()+"`](examples/"+e.Name()+"/") {
			t.Errorf("README.md's Examples table does not list examples/%s", e.Name())
		}
		if !strings.Contains(string(list), "\n## "+e.Name()+"\n") {
			t.Errorf("examples/README.md has no section on %s", e.Name())
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| \\[`([^`]+)`\\]").FindAllStringSubmatch(section, -1) {
		if !programs[m[1]] {
			t.Errorf("README.md's Examples table lists %s, which is not a program under examples/", m[1])
		}
	}
	if len(programs) < 5 {
		t.Errorf("%d programs under examples/; want at least the five the README lists", len(programs))
	}
}
