package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// childConfig configures the server a video bench starts.
type childConfig struct {
	Server     string   // eddy binary to start; "" = this executable
	ServerArgs []string // extra `serve` flags for the child
	Keep       bool     // keep the child's data directory and log
	Profile    string   // directory for the child's pprof profiles ("": none)
}

// addFlags adds --server, --server-args (described by argsUsage) and
// --keep to fs; call the function it returns after parsing, to split
// --server-args into ServerArgs.
func (c *childConfig) addFlags(fs *flag.FlagSet, argsUsage string) func() {
	fs.StringVar(&c.Server, "server", c.Server, "eddy binary to start as the server (default: this executable)")
	args := fs.String("server-args", "", argsUsage)
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the started server's data directory and log")
	fs.StringVar(&c.Profile, "server-profile", c.Profile, "write the started server's CPU, allocation and heap profiles (cpu.pprof, allocs.pprof, heap.pprof) into this directory")
	return func() { c.ServerArgs = strings.Fields(*args) }
}

// startChild starts the server of one bench run as a child process:
// cfg.Server, or this executable when that is "" (`eddy bench` runs inside
// the eddy binary, `go run ./cmd/eddy bench` included), in a fresh
// temporary directory named after the bench. stop stops it and removes the
// directory, unless cfg.Keep.
func startChild(ctx context.Context, cfg childConfig, bench string, logf func(string, ...any)) (srv *Server, stop func(), err error) {
	bin := cfg.Server
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return nil, nil, fmt.Errorf("find this executable to run as the server (or pass --server): %w", err)
		}
	}
	dir, err := os.MkdirTemp("", "eddy-bench-"+bench+"-")
	if err != nil {
		return nil, nil, err
	}
	var env []string
	if cfg.Profile != "" {
		env = append(env, "EDDY_PROFILE_DIR="+cfg.Profile)
	}
	srv, err = startServer(ctx, bin, dir, cfg.ServerArgs, env, logf)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() {
		if err := srv.Stop(logf); err != nil {
			logf("the server stopped with: %v", err)
		}
		if cfg.Keep {
			logf("kept the server's directory %s", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	}, nil
}

// runErr is what a run that failed with err returns: the server's exit
// when that is what ended ctx (see watch), else err.
func runErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}
