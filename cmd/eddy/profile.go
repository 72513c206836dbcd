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
// once: the live heap while the load runs, with goroutines-N.txt (every
// goroutine's stack, grouped) and memstats-N.txt (where the process's
// memory is: heap, stacks, runtime metadata). `eddy bench ... --server-profile DIR` sets it for the
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
			_ = writeGoroutines(filepath.Join(dir, fmt.Sprintf("goroutines-%d.txt", n)))
			_ = writeMemStats(filepath.Join(dir, fmt.Sprintf("memstats-%d.txt", n)))
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

// writeGoroutines writes the goroutines' stacks, grouped, into path.
func writeGoroutines(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup("goroutine").WriteTo(f, 1)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeMemStats writes the runtime's memory statistics into path, one
// "name bytes" line each.
func writeMemStats(path string) error {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := fmt.Sprintf("Sys %d\nHeapAlloc %d\nHeapInuse %d\nHeapIdle %d\nHeapReleased %d\nNextGC %d\n"+
		"StackInuse %d\nMSpanInuse %d\nGCSys %d\nOtherSys %d\nNumGoroutine %d\n",
		m.Sys, m.HeapAlloc, m.HeapInuse, m.HeapIdle, m.HeapReleased, m.NextGC,
		m.StackInuse, m.MSpanInuse, m.GCSys, m.OtherSys, runtime.NumGoroutine())
	return os.WriteFile(path, []byte(s), 0o644)
}
