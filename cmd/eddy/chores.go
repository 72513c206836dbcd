package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
)

// The chores: eddy streams, fragments, clip, events and status, each a
// client of a running server over its public APIs (the Kinesis Video and
// Kinesis Data Streams APIs through the AWS SDK for Go, /metrics and
// /healthz), signed with the same credentials the SDKs use.

const choresUsage = `usage:
  eddy streams ls [--kind video|data|all] [--all]
  eddy streams create NAME [--kind video|data] [--retention 24h] [--shards N | --on-demand]
  eddy streams rm NAME
  eddy streams retention NAME [NEW]       show, or set (720h, 30d, 10y; 0: live only)
  eddy fragments ls STREAM [--since 1h] [--until now] [--timestamps producer|server]
  eddy clip STREAM --from TIME --to TIME [-o out.mp4] [--timestamps producer|server]
  eddy events tail STREAM [--since 1h] [-n N]
  eddy status

` + choresCommon + `
`

// choresCommon ends each chore's help.
const choresCommon = `The chores are clients of a running server over its public APIs: --endpoint names it (default
$EDDY_ENDPOINT, else http://127.0.0.1:8080); requests are signed with the credentials the AWS SDKs
find ($AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY, --profile or $AWS_PROFILE, ~/.aws/credentials,
instance roles), unsigned when there are none. --json prints JSON for scripts.`

// cli is where a chore writes and what it reads from its environment;
// tests set their own.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	progress       bool              // draw progress bars on stderr (a terminal)
	transport      http.RoundTripper // nil: the default (tests cut connections with theirs)
	now            func() time.Time
}

// chores runs one of the client commands until it ends or is interrupted.
func chores(cmd string, args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, progress: isTerminal(os.Stderr), now: time.Now}
	if err := c.run(ctx, cmd, args); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil // -h: the usage was printed
}

// isTerminal says whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (c *cli) run(ctx context.Context, cmd string, args []string) error {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	type key struct{ cmd, sub string }
	run := map[key]func(context.Context, []string) error{
		{"streams", "ls"}: c.streamsList, {"streams", "create"}: c.streamsCreate,
		{"streams", "rm"}: c.streamsRemove, {"streams", "retention"}: c.streamsRetention,
		{"fragments", "ls"}: c.fragmentsList, {"events", "tail"}: c.eventsTail,
	}
	if f := run[key{cmd, sub}]; f != nil {
		return f(ctx, args[1:])
	}
	switch {
	case cmd == "clip":
		return c.clip(ctx, args)
	case cmd == "status":
		return c.status(ctx, args)
	case sub == "-h" || sub == "--help" || sub == "-help" || sub == "help":
		fmt.Fprint(c.stdout, choresUsage)
		return nil
	}
	subs := map[string]string{"streams": "ls, create, rm or retention", "fragments": "ls", "events": "tail"}[cmd]
	if sub == "" {
		return usage.Errorf(cmd, "want a command: %s", subs)
	}
	return usage.Errorf(cmd, "unknown command %q: want %s", sub, subs)
}

// command is one chore's flags: the client's and its own.
type command struct {
	cli    *cli
	fs     *flag.FlagSet
	client clientFlags
	json   bool
}

// command starts a chore's flags; synopsis and summary are its help.
func (c *cli) command(name, synopsis, summary string) *command {
	cmd := &command{cli: c, fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	cmd.fs.SetOutput(c.stderr)
	cmd.client.register(cmd.fs, c.getenv)
	cmd.fs.BoolVar(&cmd.json, "json", false, "print JSON (for scripts) instead of a table")
	usage.Set(cmd.fs, synopsis, summary+"\n\n"+choresCommon)
	return cmd
}

// parse reads the arguments (want positional ones, in any order with the
// flags) and connects the clients.
func (cmd *command) parse(ctx context.Context, args []string, want int) ([]string, *clients, error) {
	pos, err := parseArgs(cmd.fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != want {
		return nil, nil, usage.Errorf(cmd.fs.Name(), "want %d argument(s), got %d", want, len(pos))
	}
	cl, err := cmd.connect(ctx)
	return pos, cl, err
}

// connect finds the credentials and builds the clients.
func (cmd *command) connect(ctx context.Context) (*clients, error) {
	if err := cmd.client.resolve(ctx, cmd.cli.getenv); err != nil {
		return nil, err
	}
	return newClients(&cmd.client, cmd.cli.transport)
}

// output writes v as JSON with --json, else calls human.
func (cmd *command) output(v any, human func(w io.Writer) error) error {
	if cmd.json {
		return writeJSON(cmd.cli.stdout, v)
	}
	return human(cmd.cli.stdout)
}
