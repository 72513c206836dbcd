package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/media/redact"
	"github.com/eddy-video/eddy/media/rtspclient"
)

// Reconnection backoff of publish -loop: doubled after each failed
// attempt up to the most, and back to the least once a publication has
// run for publishHealthy.
const (
	publishMinBackoff = 500 * time.Millisecond
	publishMaxBackoff = 10 * time.Second
	publishHealthy    = 10 * time.Second
)

// publish sends an MP4 file to an RTSP server as a camera would.
func publish(args []string) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	transport := fs.String("transport", "tcp", "RTSP `TRANSPORT`: tcp or udp")
	loop := fs.Bool("loop", false, "restart the file at its end, forever, and reconnect (with backoff) when the connection is lost or the server is down")
	duration := fs.Duration("duration", 0, "stop after this much media time (0: the file, or forever with --loop)")
	every := fs.Duration("progress", 5*time.Second, "print progress (elapsed, frames, bytes, bitrate, passes) this often on standard error (0: never)")
	usage.Set(fs, "[flags] FILE.mp4 rtsp://HOST:8554/STREAM",
		`Publishes an MP4 file (H.264 or H.265 video, AAC audio) over RTSP in real time, as a camera would
(ANNOUNCE and RECORD), and prints its progress on standard error: one line every --progress, or one
line redrawn in place on a terminal. Without --loop it ends with the file, and a lost connection
ends it with status 1; with --loop it publishes until interrupted and reconnects whenever the
connection is lost, saying so.`)
	if err := usage.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usage.Errorf("publish", "want a file and a URL, got %d arguments", fs.NArg())
	}
	if *transport != "tcp" && *transport != "udp" {
		return usage.Errorf("publish", "--transport %q: want tcp or udp", *transport)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pub := &publisher{file: fs.Arg(0), url: fs.Arg(1), transport: *transport, loop: *loop, duration: *duration,
		every: *every, out: os.Stderr, terminal: isTerminal(os.Stderr)}
	return pub.run(ctx)
}

// publisher is eddy publish: a FilePublisher run again after each lost
// connection (with loop), and its progress.
type publisher struct {
	file, url, transport string
	loop                 bool
	duration             time.Duration
	every                time.Duration // progress period (0: none)
	out                  io.Writer
	terminal             bool // redraw one line instead of printing lines

	mu       sync.Mutex
	began    time.Time
	frames   int64
	bytes    int64
	media    time.Duration // media time sent, over all connections
	passes   int           // whole passes of the file
	connects int           // connections that sent media
	drawn    bool          // a progress line is open on the terminal
	// The bytes and time of the last line, for the bitrate since.
	lastBytes int64
	lastAt    time.Time
}

func (p *publisher) run(ctx context.Context) error {
	fp := &rtspclient.FilePublisher{File: p.file}
	if err := fp.Load(); err != nil {
		return err
	}
	p.began, p.lastAt = time.Now(), time.Now()
	if p.every > 0 {
		done := make(chan struct{})
		defer close(done)
		go p.report(done)
	}
	backoff := publishMinBackoff
	for {
		p.mu.Lock()
		sentBefore := p.media
		p.mu.Unlock()
		sent := false // this connection sent media
		run := &rtspclient.FilePublisher{File: p.file, URL: p.url, Transport: p.transport, Loop: p.loop}
		run.Duration = p.duration
		if p.duration > 0 {
			if sentBefore >= p.duration {
				p.finish("done") // the connection was lost after the last of it
				return nil
			}
			run.Duration = p.duration - sentBefore
		}
		span := fp.Span()
		run.OnUnit = func(pts time.Duration, _ bool, _ time.Time) {
			if !sent {
				sent = true
				p.mu.Lock()
				p.connects++
				p.mu.Unlock()
				if p.connects > 1 {
					p.say("publish: reconnected; publishing again")
				}
			}
			p.mu.Lock()
			p.frames++
			p.media = sentBefore + pts
			if span > 0 {
				p.passes = int(p.media / span)
			}
			p.mu.Unlock()
		}
		run.OnSent = func(_ bool, n int) {
			p.mu.Lock()
			p.bytes += int64(n)
			p.mu.Unlock()
		}
		started := time.Now()
		err := run.Run(ctx)
		switch {
		case ctx.Err() != nil:
			p.finish("interrupted")
			return nil
		case err == nil:
			p.finish("done")
			return nil
		case !p.loop || refused(err):
			p.finish("")
			return fmt.Errorf("publish %s: %s", redact.URL(p.url), redact.Text(err.Error())) // the URL may carry a password
		}
		if time.Since(started) >= publishHealthy {
			backoff = publishMinBackoff
		}
		what := "cannot connect"
		if sent {
			what = "connection lost"
		}
		p.say(fmt.Sprintf("publish: %s (%s); reconnecting in %s", what, redact.Text(err.Error()), backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			p.finish("interrupted")
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, publishMaxBackoff)
	}
}

// refused says whether the server's answer will not change by trying
// again: credentials refused (401, 403), no such stream (404), a codec it
// does not take (415). A 400 is retried: Eddy answers an ANNOUNCE for a
// name still published with it, and the old session of a connection lost
// on the client's side lingers until the server's read timeout drops it.
func refused(err error) bool {
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) {
		return false
	}
	switch bad.Code {
	case 401, 403, 404, 415:
		return true
	}
	return false
}

// report prints the progress every p.every until done.
func (p *publisher) report(done <-chan struct{}) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw prints the progress line; mu is held.
func (p *publisher) draw() {
	now := time.Now()
	line := fmt.Sprintf("publish: %s elapsed, %d frames, %s sent", humanDuration(now.Sub(p.began).Truncate(100*time.Millisecond)), p.frames, humanBytes(p.bytes))
	if s := now.Sub(p.lastAt).Seconds(); s > 0 {
		line += fmt.Sprintf(", %.2f Mbit/s", float64(p.bytes-p.lastBytes)*8/s/1e6)
	}
	p.lastBytes, p.lastAt = p.bytes, now
	if p.loop {
		line += fmt.Sprintf(", pass %d", p.passes+1)
	}
	if p.connects > 1 {
		line += fmt.Sprintf(", reconnections: %d", p.connects-1)
	}
	if p.terminal {
		fmt.Fprintf(p.out, "\r%-100s", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.out, line)
}

// say prints a message on its own line (ending the terminal's progress
// line first).
func (p *publisher) say(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.out)
		p.drawn = false
	}
	fmt.Fprintln(p.out, msg)
}

// finish prints the last progress line, with why it ended.
func (p *publisher) finish(why string) {
	if p.every <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
	if p.drawn {
		fmt.Fprintln(p.out)
		p.drawn = false
	}
	if why != "" {
		fmt.Fprintln(p.out, "publish: "+why)
	}
}
