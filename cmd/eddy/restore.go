package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/tier"
	"github.com/eddy-video/eddy/server"
)

const restoreSummary = `Rebuilds a data directory from the object-storage bucket alone, after the node's disk is lost:
every stream's settings, init segments, fragment index and events, each log's sparse indexes and
upload records. Segments stay in the bucket and are read through the cache; the events timeline is
rebuilt when the server starts. What had not been uploaded yet is lost (eddy_object_upload_lag_seconds
said how much).

The bucket is the configuration file's storage.object. --data must name a new or empty directory;
run the server on it afterwards with the same configuration and --data (the command prints it).`

// restore runs eddy restore.
func restore(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return runRestore(ctx, args, os.Stdout, logger)
}

// runRestore is restore writing its report to stdout and its progress
// to logger.
func runRestore(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	fset := flag.NewFlagSet("restore", flag.ContinueOnError)
	config := fset.String("config", "", "YAML configuration `FILE` with storage.object (the bucket to restore from)")
	data := fset.String("data", "", "the new data `DIRECTORY` to write (new or empty)")
	usage.Set(fset, "--config FILE --data DIRECTORY", restoreSummary)
	if err := usage.Parse(fset, args); err != nil {
		return err
	}
	switch {
	case fset.NArg() > 0:
		return usage.Errorf("restore", "unexpected argument %q", fset.Arg(0))
	case *config == "":
		return usage.Errorf("restore", "--config is required: the configuration file whose storage.object names the bucket")
	case *data == "":
		return usage.Errorf("restore", "--data is required: a new or empty directory to restore into")
	}
	cfg := server.DefaultConfig()
	if err := cfg.LoadFile(*config); err != nil {
		return err
	}
	o := cfg.Storage.Object
	if o == nil {
		return fmt.Errorf("%s has no storage.object section: there is no bucket to restore from", *config)
	}
	cfg.Data = *data
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	if err := emptyDir(*data); err != nil {
		return err
	}
	bc, err := o.BucketConfig()
	if err != nil {
		return err
	}
	bucket, err := objstore.New(bc)
	if err != nil {
		return fmt.Errorf("storage.object: %w", err)
	}
	logger.Info("restoring from object storage", "from", o.Where(), "into", *data)
	sum, err := tier.Restore(ctx, bucket, *data, logger)
	if err != nil {
		return fmt.Errorf("restore from %s: %w", o.Where(), err)
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		abs = *data
	}
	fmt.Fprintf(stdout, "restored %d streams from %s into %s: %d segments (left in the bucket, read cold), %d files (%d bytes)\n",
		sum.Streams, o.Where(), abs, sum.Segments, sum.Files, sum.Bytes)
	fmt.Fprintf(stdout, "next: eddy serve --config %s --data %s\n", *config, abs)
	return nil
}

// emptyDir fails unless dir is absent or an empty directory: a restore
// never writes over data.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--data %s: %w", dir, err)
	case len(ents) > 0:
		return fmt.Errorf("--data %s is not empty (it holds %s): restore into a new or empty directory", dir, ents[0].Name())
	}
	return nil
}
