// Package usage is how every eddy command reads its command line: -h and
// --help print the command's help to standard output and end it with
// success (flag.ErrHelp), and a command line that cannot run is an
// *Error, which eddy exits with status 2 for, as the flag package's own
// programs do, while a run that fails exits 1.
package usage

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Stdout receives the help that -h asks for (tests set their own).
var Stdout io.Writer = os.Stdout

// Error is a command line a command cannot run: an unknown flag or
// command, a bad flag value, missing arguments.
type Error struct {
	Command string // "serve", "streams ls": named in the hint
	Err     error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Hint is the line printed after the error.
func (e *Error) Hint() string {
	if e.Command == "" {
		return "run 'eddy --help' for the commands"
	}
	return fmt.Sprintf("run 'eddy %s --help' for its usage", e.Command)
}

// Errorf returns an *Error of command.
func Errorf(command, format string, args ...any) error {
	return &Error{Command: command, Err: fmt.Errorf(format, args...)}
}

// Set makes fs's help "usage: eddy NAME SYNOPSIS", a blank line, the
// summary, then the flags (fs's name is the command's: "serve", "streams
// ls").
func Set(fs *flag.FlagSet, synopsis, summary string) {
	fs.Usage = func() {
		Print(fs, synopsis, summary, nil)
	}
}

// Print writes fs's help to fs.Output(); more, when set, adds lines
// under a flag's own.
func Print(fs *flag.FlagSet, synopsis, summary string, more func(*flag.Flag) []string) {
	w := fs.Output()
	fmt.Fprintf(w, "%s\n\n%s\n", strings.TrimSpace("usage: eddy "+fs.Name()+" "+synopsis), summary)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintln(w, line)
		fmt.Fprintln(w, "        "+text+defaultOf(f))
		if more != nil {
			for _, l := range more(f) {
				fmt.Fprintln(w, "        "+l)
			}
		}
	})
}

// defaultOf is " (default X)" unless the default is the zero value.
func defaultOf(f *flag.Flag) string {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, isString := g.Get().(string); isString {
			return fmt.Sprintf(" (default %q)", f.DefValue)
		}
	}
	return " (default " + f.DefValue + ")"
}

// Parse parses args into fs. With -h or --help it writes fs's help to
// Stdout and returns flag.ErrHelp; a bad flag is an *Error naming fs.
// The flag package's own messages are not printed: the caller prints the
// error and its hint once.
func Parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = Stdout.Write(buf.Bytes())
		return flag.ErrHelp
	case err != nil:
		return &Error{Command: fs.Name(), Err: err}
	}
	return nil
}

// Help writes fs's help to Stdout (eddy help NAME, eddy streams help).
func Help(fs *flag.FlagSet) {
	out := fs.Output()
	fs.SetOutput(Stdout)
	fs.Usage()
	fs.SetOutput(out)
}
