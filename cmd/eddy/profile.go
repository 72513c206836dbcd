package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// profileEnv names a directory into which eddy serve writes its profiles
// (a development aid for the benchmarks, not a setting): cpu.pprof covers
// the whole run, and allocs.pprof and heap.pprof are written when the
// server stops. `eddy bench ... --server-profile DIR` sets it for the
// server it starts; read them with `go tool pprof -top`.
const profileEnv = "EDDY_PROFILE_DIR"

// startProfiles starts the CPU profile into dir ("" does nothing); the
// returned function stops it and writes the memory profiles.
func startProfiles(dir string) (stop func() error, err error) {
	if dir == "" {
		return func() error { return nil }, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		_ = cpu.Close()
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	return func() error {
		pprof.StopCPUProfile()
		err := cpu.Close()
		runtime.GC() // the heap profile shows live objects as of the last GC
		for _, name := range []string{"allocs", "heap"} {
			f, ferr := os.Create(filepath.Join(dir, name+".pprof"))
			if ferr != nil {
				err = ferr
				continue
			}
			if werr := pprof.Lookup(name).WriteTo(f, 0); werr != nil {
				err = werr
			}
			if cerr := f.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
		return err
	}, nil
}
