package atomicfile

import (
	"crypto/rand"
	"os"
	"path/filepath"
)

// WriteFile replaces path with b: a temp file is written and synced,
// renamed over path, and the directory synced, so a crash leaves either
// the old or the new contents. A failed write (a full disk) removes the
// temp file and leaves path as it was.
func WriteFile(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := writeSynced(tmp, b, perm); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// writeSynced writes b to a new file at path and syncs it.
func writeSynced(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// SyncDir makes the directory's entries (files created, renamed or
// removed in it) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadOrCreateKey reads a 32-byte secret key from path, or, when the file
// is missing or not 32 bytes, makes a random one and writes it there
// atomically (0600), so that what it signs survives a restart.
func LoadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := WriteFile(path, key, 0o600); err != nil {
		return nil, err
	}
	return key, nil
}
