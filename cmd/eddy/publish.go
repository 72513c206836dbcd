package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/eddy-video/eddy/media/rtspclient"
)

// publish sends an MP4 file to an RTSP server as a camera would.
func publish(args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	transport := fs.String("transport", "tcp", "RTSP transport: tcp or udp")
	loop := fs.Bool("loop", false, "restart the file at its end, forever")
	duration := fs.Duration("duration", 0, "stop after this much media time (0: the file, or forever with -loop)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: eddy publish [flags] FILE.mp4 rtsp://HOST:8554/STREAM")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("publish: want a file and a URL")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &rtspclient.FilePublisher{File: fs.Arg(0), URL: fs.Arg(1), Transport: *transport, Loop: *loop, Duration: *duration}
	err := p.Run(ctx)
	if err == context.Canceled {
		return nil
	}
	return err
}
