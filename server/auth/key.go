package auth

import (
	"fmt"
	"path/filepath"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
)

// LoadKey reads the key that signs tokens and sessions from dir/auth.key,
// creating it on first use, so that they survive a restart. Deleting the
// file (and restarting) revokes every token and session.
func LoadKey(dir string) ([]byte, error) {
	key, err := atomicfile.LoadOrCreateKey(filepath.Join(dir, "auth.key"))
	if err != nil {
		return nil, fmt.Errorf("auth key: %w", err)
	}
	return key, nil
}
