package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
)

// profileEnv names a directory into which eddy serve writes its profiles
// (a development aid for the benchmarks, not a setting): cpu.pprof covers
// the whole run, allocs.pprof and heap.pprof are written when the
// server stops, and SIGUSR1 writes heap-N.pprof (N counting from 1) at
// once: the live heap while the load runs. `eddy bench ... --server-profile DIR` sets it for the
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
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; ; n++ {
			if _, ok := <-usr1; !ok {
				return
			}
			runtime.GC()
			_ = writeProfile(filepath.Join(dir, fmt.Sprintf("heap-%d.pprof", n)), "heap")
		}
	})
	return func() error {
		signal.Stop(usr1)
		close(usr1)
		wg.Wait()
		pprof.StopCPUProfile()
		err := cpu.Close()
		runtime.GC() // the heap profile shows live objects as of the last GC
		for _, name := range []string{"allocs", "heap"} {
			if werr := writeProfile(filepath.Join(dir, name+".pprof"), name); werr != nil {
				err = werr
			}
		}
		return err
	}, nil
}

// writeProfile writes the runtime profile name into path.
func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup(name).WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
