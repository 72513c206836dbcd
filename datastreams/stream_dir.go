package datastreams

// Where a stream lives: <data>/streams/<id>/, id a short random name
// (format 2, datadir.go). The stream's name is in its stream.json, so a
// name's length never meets the file system's limit on a path component
// (255 bytes), and a directory's name never has to be parsed. Directories
// of format 1, named by the stream's name, open the same way.
//
// Create: the stream's directory is made under <data>/tmp/ with its
// stream.json (temp file, fsync, rename), then renamed into streams/ (the
// commit) and its shard logs opened there. A failure before the rename
// leaves nothing in streams/; one after it moves the directory to trash/.
// A crash leaves at most a directory in tmp/, which the next start
// empties (and, from Eddys of format 1, a directory without stream.json in
// streams/, which the next start removes: nothing was acknowledged in it).
//
// Delete: the directory is renamed to <data>/trash/<new id> (the commit),
// both directories fsynced, and removed in the background; the next start
// empties trash/ whatever a crash left there.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

const (
	streamsDir = "streams"
	stagingDir = "tmp"
	trashDir   = "trash"
)

// newDirID returns a fresh directory name: 16 hex digits.
func newDirID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fail runs the test failpoint of a step.
func (c *Core) fail(step string) error {
	if c.failpoint == nil {
		return nil
	}
	return c.failpoint(step)
}

// createDir makes a new stream's directory, commits it and opens its
// shard logs; on failure nothing is left. c.mu is held.
func (c *Core) createDir(m *streamMeta) (*Stream, error) {
	dir, err := c.commitDir(m)
	var s *Stream
	if err == nil {
		s, err = c.openStream(dir, m)
	}
	if err == nil {
		if err = c.fail("create.open"); err != nil {
			_ = s.close()
		}
	}
	if err != nil {
		if dir != "" {
			c.undoCreate(m.Name, dir)
		}
		return nil, fmt.Errorf("create stream %s: %w", m.Name, err)
	}
	return s, nil
}

// undoCreate removes a committed directory whose stream did not open.
func (c *Core) undoCreate(name, dir string) {
	dst, err := c.moveToTrash(dir)
	if err != nil {
		// Left as an empty stream: it comes back at the next start.
		c.Logger.Error("undo a failed create", "stream", name, "dir", dir, "err", err)
		return
	}
	_ = os.RemoveAll(dst)
}

// commitDir writes the stream's metadata in a staging directory and
// renames that into streams/ under a fresh id; it returns the new path
// once renamed (also with an error, if the rename's sync failed).
func (c *Core) commitDir(m *streamMeta) (string, error) {
	staging := filepath.Join(c.Dir, stagingDir)
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(staging, "stream-")
	if err != nil {
		return "", err
	}
	err = c.fail("create.meta")
	if err == nil {
		err = saveMeta(tmp, m)
	}
	root := filepath.Join(c.Dir, streamsDir)
	for err == nil {
		dir := filepath.Join(root, newDirID())
		if _, serr := os.Lstat(dir); serr == nil {
			continue // an id taken (or a format-1 stream of that name)
		}
		err = c.fail("create.rename")
		if err == nil {
			err = os.Rename(tmp, dir)
		}
		if err == nil {
			return dir, atomicfile.SyncDir(root)
		}
		if errors.Is(err, fs.ErrExist) {
			err = nil // taken between the Lstat and the rename
		}
	}
	_ = os.RemoveAll(tmp)
	return "", err
}

// moveToTrash renames a stream's directory into trash/ and makes the
// rename durable; it returns the new path.
func (c *Core) moveToTrash(dir string) (string, error) {
	trash := filepath.Join(c.Dir, trashDir)
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(trash, newDirID())
	err := c.fail("delete.rename")
	if err == nil {
		err = os.Rename(dir, dst)
	}
	if err != nil {
		return "", err
	}
	// The rename is the commit; should the syncs fail, the stream is
	// gone here and at worst comes back after a power loss.
	if err := atomicfile.SyncDir(filepath.Dir(dir)); err != nil {
		c.Logger.Error("sync the streams directory", "err", err)
	}
	_ = atomicfile.SyncDir(trash)
	return dst, nil
}
