package bench

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
)

// parseFlags parses a bench's args into fs, then calls check (to finish
// and validate the configuration). help reports -h: fs has printed the
// usage and there is nothing to run.
func parseFlags(fs *flag.FlagSet, args []string, check func() error) (help bool, err error) {
	if err := usage.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, err
	}
	if fs.NArg() > 0 {
		return false, usage.Errorf(fs.Name(), "unexpected argument %q", fs.Arg(0))
	}
	return false, check()
}

// runAndReport runs a bench until it ends or this process gets SIGINT or
// SIGTERM, profiling this process's CPU into cpuProfile when set, then
// prints its report (printReport). A run that made no report returns its
// error alone.
func runAndReport[R any, P interface {
	*R
	benchReport
}](jsonOut bool, cpuProfile string, run func(context.Context) (P, error)) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	res, err := run(ctx)
	if res == nil {
		return err
	}
	return printReport(res, jsonOut, err)
}

// setUsage makes fs print, on -h, "usage: eddy <fs's name> <synopsis>",
// about, then its flags.
func setUsage(fs *flag.FlagSet, synopsis, about string) {
	usage.Set(fs, synopsis, about)
}
