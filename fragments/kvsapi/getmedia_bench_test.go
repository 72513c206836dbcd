package kvsapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// ebmlMagic is the ID of the EBML header, the first bytes of every
// document of a GetMedia answer.
var ebmlMagic = []byte{0x1A, 0x45, 0xDF, 0xA3}

// BenchmarkGetMediaLiveTail measures GetMedia at the live edge: from the
// moment a fragment is durable (Store.Append returned) to the consumer's
// read of its first byte over loopback HTTP, reported as p50/p99 in ms
// (the target is p99 ≤ 20 ms). The session is woken inside Append, once
// the fragment is durable and listed, so its first byte may arrive
// before Append has returned (a negative figure); the append-* figures
// count from Append's call instead, the durable write included. One
// iteration is one fragment (about 1 s of 25 fps H.264 and AAC).
func BenchmarkGetMediaLiveTail(b *testing.B) {
	// The stores' log lines would break the benchmark's result line.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := newGMEnv(b)
	e.add(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := getMedia(ctx, b, e.url, selector("NOW", "", ""))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	// The consumer stamps every read that holds the start of a document.
	starts := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 256<<10)
		var tail []byte // the last bytes of the previous read: a magic may straddle two
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				at := time.Now()
				window := append(tail, buf[:n]...)
				for i := 0; ; {
					j := bytes.Index(window[i:], ebmlMagic)
					if j < 0 {
						break
					}
					starts <- at
					i += j + len(ebmlMagic)
				}
				tail = append(tail[:0], window[max(len(window)-len(ebmlMagic)+1, 0):]...)
			}
			if err != nil {
				if err != io.EOF && ctx.Err() == nil {
					b.Error(err)
				}
				close(starts)
				return
			}
		}
	}()
	lat := make([]time.Duration, 0, b.N)        // from Append's return
	withAppend := make([]time.Duration, 0, b.N) // from Append's call
	b.ResetTimer()
	for range b.N {
		called := time.Now()
		e.add(b)
		durable := time.Now()
		at, ok := <-starts
		if !ok {
			b.Fatal("the answer ended")
		}
		lat = append(lat, at.Sub(durable))
		withAppend = append(withAppend, at.Sub(called))
	}
	b.StopTimer()
	q := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[min(int(p*float64(len(d))), len(d)-1)]) / 1e6
	}
	b.ReportMetric(q(lat, 0.50), "p50-ms")
	b.ReportMetric(q(lat, 0.99), "p99-ms")
	b.ReportMetric(q(lat, 1), "max-ms")
	b.ReportMetric(q(withAppend, 0.50), "append-p50-ms")
	b.ReportMetric(q(withAppend, 0.99), "append-p99-ms")
}
