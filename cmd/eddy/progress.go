package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws a download's progress on one terminal line:
//
//	45% [===========>             ] 12.3 MiB / 27.0 MiB  5.1 MiB/s  3 s left
//
// A nil bar draws nothing.
type progressBar struct {
	w            io.Writer
	total, done  int64
	base         int64 // bytes there before this request (a resume)
	began, drawn time.Time
}

const barWidth = 30

func (b *progressBar) start(have, total int64) {
	b.done, b.base, b.total, b.began = have, have, total, time.Now()
	b.draw()
}

// wrap counts what r delivers.
func (b *progressBar) wrap(r io.Reader) io.Reader {
	if b == nil {
		return r
	}
	return readerFunc(func(p []byte) (int, error) {
		n, err := r.Read(p)
		b.done += int64(n)
		if time.Since(b.drawn) >= 100*time.Millisecond {
			b.draw()
		}
		return n, err
	})
}

// stop draws the last state and ends the line.
func (b *progressBar) stop() {
	b.draw()
	fmt.Fprintln(b.w)
}

func (b *progressBar) draw() {
	b.drawn = time.Now()
	frac := 0.0
	if b.total > 0 {
		frac = min(float64(b.done)/float64(b.total), 1)
	}
	fill := int(frac * barWidth)
	bar := strings.Repeat("=", fill)
	if fill < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-fill-1)
	}
	line := fmt.Sprintf("\r%3d%% [%s] %s / %s", int(frac*100), bar, humanBytes(b.done), humanBytes(b.total))
	if el := time.Since(b.began).Seconds(); el > 0.5 && b.done > b.base {
		rate := float64(b.done-b.base) / el
		line += fmt.Sprintf("  %s/s", humanBytes(int64(rate)))
		if left := b.total - b.done; left > 0 {
			line += "  " + humanDuration(time.Duration(float64(left)/rate*float64(time.Second))) + " left"
		}
	}
	fmt.Fprintf(b.w, "%-90s", line)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
