package bench

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// readPSI reads Linux pressure stall information totals (µs), empty when
// the kernel has none.
func readPSI() map[string]float64 {
	m := map[string]float64{}
	for _, res := range []string{"cpu", "io"} {
		b, err := os.ReadFile("/proc/pressure/" + res)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			if v, ok := strings.CutPrefix(f[4], "total="); ok {
				if n, err := strconv.ParseFloat(v, 64); err == nil {
					m[res+"_"+f[0]] = n
				}
			}
		}
	}
	return m
}

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat:
// `getconf CLK_TCK`, or 100 (Linux's value) when that fails.
func clockTicks() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

// cpuSeconds is utime+stime of a process, from /proc/PID/stat. It leaves
// out cutime and cstime (its waited-for children's): neither server the
// benches measure (eddy serve, MediaMTX) starts child processes in them.
func cpuSeconds(pid int, tck float64) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')') // comm may hold spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // state is f[0]; utime f[11], stime f[12]
		return 0, false
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(u+s) / tck, true
}

// rssBytes returns VmRSS and VmHWM (peak) of a process in bytes.
func rssBytes(pid int) (rss, hwm int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// openFDs counts a process's open file descriptors (/proc/PID/fd); -1
// when they cannot be read.
func openFDs(pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	for {
		names, err := f.Readdirnames(1024)
		n += len(names)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n
			}
			return -1
		}
	}
}

// cpuSample holds CPU-seconds (user + system) of the server and of this
// process, from /proc (Linux).
type cpuSample struct {
	server, self     float64
	serverOK, selfOK bool
}

func readCPU(pid int, tck float64) cpuSample {
	var s cpuSample
	if pid > 0 {
		s.server, s.serverOK = cpuSeconds(pid, tck)
	}
	s.self, s.selfOK = cpuSeconds(os.Getpid(), tck)
	return s
}
