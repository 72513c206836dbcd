package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// The part watcher in a process of its own (the default;
// --watcher-in-process for the old way). In the bench's process its
// goroutine is scheduled with the 200 readers': each part wakes them all
// at once (their playlists arrive with the watcher's), and the watcher's
// response waited behind their parsing and part requests in the bench's
// own run queue, which counted against the server: with the same server
// and 200 readers, a part was listed p50 34 ms after its duration so
// measured, 4–7 ms measured from a process of its own. A player of its
// own is what it stands for: in its own process the operating system
// runs it when its answer arrives, on the same two cores as the server
// and the readers.
//
// The child is this executable run as `bench hls --part-watcher-child
// URL`; it watches until its standard input closes and writes what it saw
// to its standard output as JSON lines (hlsWatcherRecord).

// partWatcherChildFlag names the child's mode (the first argument).
const partWatcherChildFlag = "--part-watcher-child"

// hlsWatcherRecord is one line from the child.
type hlsWatcherRecord struct {
	Part       *hlsPartSeenJSON `json:"part,omitempty"`
	Existing   *[2]int64        `json:"existing,omitempty"` // at, d (ns)
	PartTarget int64            `json:"part_target,omitempty"`
	Errors     int              `json:"errors,omitempty"`   // so far
	Blocking   int              `json:"blocking,omitempty"` // so far
}

type hlsPartSeenJSON struct {
	First  int64 `json:"first"`
	Dur    int64 `json:"dur"`
	Listed int64 `json:"listed"`
}

// runPartWatcherChild is the child: it watches the master playlist url.
func runPartWatcherChild(master string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes it to stop
		cancel()
	}()
	b := &hlsBench{logger: logger{log: os.Stderr, prefix: "part watcher (child): "}, hc: newHTTPClient(8)}
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	sent, sentEx := 0, 0
	flush := func() error {
		b.mu.Lock()
		parts, existing := b.parts[sent:], b.existing[sentEx:]
		sent, sentEx = len(b.parts), len(b.existing)
		rec := hlsWatcherRecord{PartTarget: int64(b.partTarget), Errors: b.pErrs, Blocking: b.pBlocking}
		b.mu.Unlock()
		for _, p := range parts {
			if err := enc.Encode(hlsWatcherRecord{Part: &hlsPartSeenJSON{First: p.first, Dur: int64(p.dur), Listed: p.listed}}); err != nil {
				return err
			}
		}
		for _, e := range existing {
			if err := enc.Encode(hlsWatcherRecord{Existing: &[2]int64{e.at, int64(e.d)}}); err != nil {
				return err
			}
		}
		if err := enc.Encode(rec); err != nil {
			return err
		}
		return out.Flush()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.watchParts(ctx, master)
	}()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := flush(); err != nil {
				return err
			}
		case <-done:
			return flush()
		}
	}
}

// startPartWatcherProcess starts the child watching master and returns a
// function that stops it and waits for its last records.
func (b *hlsBench) startPartWatcherProcess(ctx context.Context, master string) (stop func(), err error) {
	exe := b.cfg.watcherExe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe, "bench", "hls", partWatcherChildFlag, master)
	cmd.Stderr = b.log
	if cmd.Stderr == nil {
		cmd.Stderr = io.Discard
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("part watcher process: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		dec := json.NewDecoder(stdout)
		for {
			var r hlsWatcherRecord
			if err := dec.Decode(&r); err != nil {
				if !errors.Is(err, io.EOF) {
					b.logf("part watcher process: %v", err)
				}
				return
			}
			b.mu.Lock()
			switch {
			case r.Part != nil:
				b.parts = append(b.parts, hlsPartSeen{first: r.Part.First, dur: time.Duration(r.Part.Dur), listed: r.Part.Listed})
			case r.Existing != nil:
				b.existing = append(b.existing, hlsTimed{at: r.Existing[0], d: time.Duration(r.Existing[1])})
			default:
				b.partTarget = time.Duration(r.PartTarget)
				b.pErrs, b.pBlocking = r.Errors, r.Blocking
			}
			b.mu.Unlock()
		}
	})
	stopOnce := sync.OnceFunc(func() {
		_ = stdin.Close()
		exited := make(chan struct{})
		go func() {
			wg.Wait() // its last records, then EOF
			_ = cmd.Wait()
			if ps := cmd.ProcessState; ps != nil {
				cpu := (ps.UserTime() + ps.SystemTime()).Seconds()
				b.mu.Lock()
				b.watcherCPU = &cpu
				b.mu.Unlock()
			}
			close(exited)
		}()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	context.AfterFunc(ctx, stopOnce) // a run that ends early stops it too
	return stopOnce, nil
}
