package datastreams

// The data directory's own files: its format marker and its lock.
//
//	<data>/FORMAT  the layout version of everything under <data>, on its
//	               first line; the program that last wrote it on the second
//	<data>/LOCK    flock(2)ed by the process that has the directory open;
//	               holds its pid, for the message a second one gets
//
// Formats:
//
//	1  every Eddy before the marker: <data>/streams/<name>/, no FORMAT
//	2  <data>/streams/<id>/: a stream's directory is named by a short random
//	   id and its name is in its stream.json, so that no name is too long
//	   for the file system; directories of format 1 keep their names and
//	   open as they are (the core never reads a name from a path)
//
// A directory without a marker is new (nothing in it yet: marked with the
// current format) or of format 1 (marked after it opened). A marker newer
// than FormatVersion is refused before anything is written, so an older
// Eddy never misreads what a newer one wrote. Per-file versions stay with
// their files (filelog's segment magic, the fragment index's chunk magic);
// the marker is about the layout that holds them.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/buildinfo"
)

// FormatVersion is the data-directory format this core writes and the
// newest it reads.
const FormatVersion = 2

const (
	formatFile = "FORMAT"
	lockFile   = "LOCK"
)

// ErrNewerFormat is returned by Initialize (wrapped) for a data directory
// written in a format newer than FormatVersion; nothing in it was touched.
var ErrNewerFormat = errors.New("written by a newer eddy")

// ErrLocked is returned by Initialize (wrapped) when another process, or
// another Core of this one, has the data directory open.
var ErrLocked = errors.New("in use by another eddy")

type formatMarker struct {
	Format    int
	WrittenBy string
}

func (m formatMarker) encode() []byte {
	s := strconv.Itoa(m.Format) + "\n"
	if m.WrittenBy != "" {
		s += "written by " + m.WrittenBy + "\n"
	}
	return []byte(s)
}

// readFormat returns the directory's format: 0 for a new directory, 1
// for one of format 1 (no marker, but data), else the marker's.
func readFormat(dir string) (formatMarker, error) {
	p := filepath.Join(dir, formatFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		for _, name := range []string{streamsDir, "token.key"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return formatMarker{Format: 1}, nil
			}
		}
		return formatMarker{}, nil
	}
	if err != nil {
		return formatMarker{}, err
	}
	first, rest, _ := strings.Cut(string(b), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || n < 1 {
		return formatMarker{}, fmt.Errorf("%s is not a format marker (its first line must be a format number, like %d): %q", p, FormatVersion, first)
	}
	by, _, _ := strings.Cut(rest, "\n")
	return formatMarker{Format: n, WrittenBy: strings.TrimPrefix(by, "written by ")}, nil
}

// checkFormat refuses a directory this core cannot read.
func checkFormat(dir string, m formatMarker) error {
	if m.Format <= FormatVersion {
		return nil
	}
	by := ""
	if m.WrittenBy != "" {
		by = " (" + formatFile + ": written by " + m.WrittenBy + ")"
	}
	return newerFormatError(fmt.Sprintf("data directory %s is format %d, this eddy reads up to %d; use a newer eddy%s; nothing in it was changed",
		dir, m.Format, FormatVersion, by))
}

// newerFormatError is a refusal of a newer format: ErrNewerFormat, told
// in full.
type newerFormatError string

func (e newerFormatError) Error() string        { return string(e) }
func (e newerFormatError) Is(target error) bool { return target == ErrNewerFormat }

// openDataDir checks the format, takes the lock and marks the directory
// with the current format. On success the caller owns c.lock.
func (c *Core) openDataDir() error {
	m, err := readFormat(c.Dir)
	if err != nil {
		return err
	}
	if err := checkFormat(c.Dir, m); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	if c.lock, err = lockDir(c.Dir); err != nil {
		return err
	}
	// Read again under the lock: another process may have upgraded it.
	if m, err = readFormat(c.Dir); err == nil {
		err = checkFormat(c.Dir, m)
	}
	if err == nil && (m.Format != FormatVersion || m.WrittenBy != c.WrittenBy) {
		err = c.writeFormat(m.Format)
	}
	if err != nil {
		c.unlock()
	}
	return err
}

// writeFormat marks the directory with FormatVersion. Going from format 1
// to 2 moves nothing: format-1 stream directories open as they are.
func (c *Core) writeFormat(from int) error {
	b := formatMarker{Format: FormatVersion, WrittenBy: c.WrittenBy}.encode()
	if err := atomicfile.WriteFile(filepath.Join(c.Dir, formatFile), b, 0o644); err != nil {
		return fmt.Errorf("write the format marker: %w", err)
	}
	if from != 0 && from != FormatVersion {
		c.Logger.Info("data directory upgraded", "dir", c.Dir, "from_format", from, "to_format", FormatVersion)
	}
	return nil
}

// lockDir takes the directory's lock with flock(2): the kernel releases it
// when the process dies, even by SIGKILL, so a crash never leaves a stale
// lock. The file keeps the holder's pid for the message.
func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(p); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = fmt.Sprintf(", pid %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is %w%s (%s is locked): one eddy per data directory", dir, ErrLocked, holder, p)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	// The pid is only for the message above; a failure to write it
	// changes nothing about the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// unlock releases the data directory (closing the file drops the flock).
func (c *Core) unlock() {
	if c.lock != nil {
		_ = c.lock.Close()
		c.lock = nil
	}
}

// defaultWrittenBy names this program for the format marker: the main
// module's path and version, and the VCS revision it was built from.
func defaultWrittenBy() string {
	bi, ok := buildinfo.Read()
	if !ok {
		return ""
	}
	return strings.TrimSpace(bi.Path + " " + bi.Version + " " + bi.ShortRevision())
}
