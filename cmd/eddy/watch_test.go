package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/mediatest"
)

// TestConfigWatchSymlinkSwap: a configuration mounted the way Kubernetes
// mounts a ConfigMap (eddy.yaml -> ..data/eddy.yaml, ..data -> a
// timestamped directory, replaced by renaming a new symlink over ..data)
// is seen to change; the file itself is never written.
func TestConfigWatchSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"v1", "v2"} {
		if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(dir, v, "eddy.yaml"), "log_level: "+map[string]string{"v1": "info", "v2": "debug"}[v]+"\n")
	}
	mustSymlink(t, "v1", filepath.Join(dir, "..data"))
	mustSymlink(t, filepath.Join("..data", "eddy.yaml"), filepath.Join(dir, "eddy.yaml"))
	w, err := watchConfig(filepath.Join(dir, "eddy.yaml"), mediatest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	mustSymlink(t, "v2", filepath.Join(dir, "..data_tmp"))
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("the swap of ..data was not seen as a change")
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
