package auth

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// LoadKey reads the key that signs tokens and sessions from dir/auth.key,
// creating it on first use, so that they survive a restart. Deleting the
// file (and restarting) revokes every token and session.
func LoadKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, "auth.key")
	if b, err := os.ReadFile(p); err == nil && len(b) == 32 {
		return b, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(p, key, 0o600); err != nil {
		return nil, fmt.Errorf("auth key: %w", err)
	}
	return key, nil
}
