package datastreamstest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on a new test directory and returns
// the directory; it is unmounted when the test ends. A full-disk test
// fills it to get real ENOSPC from the kernel. Mounting needs root (or
// CAP_SYS_ADMIN): where it fails the test is skipped with the reason, or
// fails when the CI environment variable is set (CI runs as root, so a
// failed mount there is a broken set-up).
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,mode=0755", size)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		what := fmt.Sprintf("cannot mount a %d-byte tmpfs for a full-disk test (%v); run as root", size, err)
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI is set, so this fails instead of skipping)", what)
		}
		t.Skipf("skipping: %s", what)
	}
	t.Cleanup(func() {
		// Files may still be open (a server closing late): detach then.
		if err := syscall.Unmount(dir, 0); err != nil && !errors.Is(err, syscall.EINVAL) {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// Fill writes a file at path until the filesystem holding it is full,
// leaving about leave bytes free (0: none at all), and returns the bytes
// written. Removing the file gives the space back.
func Fill(t testing.TB, path string, leave int64) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for want := free - leave; leave == 0 || n < want; {
		k := int64(len(buf))
		if leave > 0 {
			k = min(k, want-n)
		}
		if k <= 0 {
			break
		}
		w, err := f.Write(buf[:k])
		n += int64(w)
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	return n
}
