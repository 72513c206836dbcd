package bench

import (
	"fmt"
	"io"
)

// logger writes a bench's setup and progress lines, each after prefix; a
// nil writer discards them.
type logger struct {
	log    io.Writer
	prefix string
}

func (l logger) logf(format string, args ...any) {
	if l.log != nil {
		fmt.Fprintf(l.log, l.prefix+format+"\n", args...)
	}
}
