package bench

import (
	"os"
	"strconv"
	"strings"
)

// machineCPU is the CPU time the whole machine has used (user, nice,
// system, irq, softirq and steal of /proc/stat's cpu line), in seconds of
// one core; false without /proc.
func machineCPU(tck float64) (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	var sum uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system (idle iowait) irq softirq steal
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += v
	}
	return float64(sum) / tck, true
}

// otherCPU measures the CPU time of the machine's other processes over a
// window: the machine's total minus the server's and the bench's.
type otherCPU struct {
	tck    float64
	m0, m1 float64
	ok     bool
}

func startOtherCPU(tck float64) *otherCPU {
	o := &otherCPU{tck: tck}
	o.m0, o.ok = machineCPU(tck)
	return o
}

func (o *otherCPU) stop() {
	var ok bool
	o.m1, ok = machineCPU(o.tck)
	o.ok = o.ok && ok
}

// of is the other processes' CPU over the window from p0 to p1, in
// seconds and as a percentage of one core; nil, nil when /proc could not
// tell.
func (o *otherCPU) of(p0, p1 snapshot) (sec, pc *float64) {
	srv, _ := serverCPU(p0, p1)
	own, _ := benchCPU(p0, p1)
	if !o.ok || srv == nil || own == nil {
		return nil, nil
	}
	return cpuDelta(0, max(o.m1-o.m0-*srv-*own, 0), true, p1.at.Sub(p0.at))
}
