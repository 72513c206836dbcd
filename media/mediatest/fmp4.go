package mediatest

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestsrcGOPs encodes seconds of ffmpeg's testsrc2 at w x h, 25 fps, as
// H.264 (x264 veryfast, with its B-frames) in 2 s GOPs, as fragmented MP4
// with one fragment per GOP, and returns the initialization segment
// (ftyp and moov) and each fragment (moof and mdat) as a recorder would
// store them. It skips the test without ffmpeg (fails under CI).
func TestsrcGOPs(tb testing.TB, w, h, seconds int) (init []byte, gops [][]byte) {
	tb.Helper()
	RequireTool(tb, "ffmpeg")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=s=%dx%d:r=25:d=%d", w, h, seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-use_editlist", "0", "-movflags", "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets",
		"-f", "mp4", "pipe:1").Output()
	if err != nil {
		tb.Fatalf("ffmpeg: %v", err)
	}
	for p := out; len(p) >= 8; {
		n := int(binary.BigEndian.Uint32(p))
		if n < 8 || n > len(p) {
			tb.Fatalf("ffmpeg wrote a box of %d bytes with %d left", n, len(p))
		}
		switch string(p[4:8]) {
		case "moof":
			gops = append(gops, p[:n])
		case "mdat":
			if len(gops) == 0 {
				tb.Fatal("ffmpeg wrote an mdat before any moof")
			}
			last := gops[len(gops)-1]
			gops[len(gops)-1] = out[len(out)-len(p)-len(last) : len(out)-len(p)+n]
		default:
			init = append(init, p[:n]...)
		}
		p = p[n:]
	}
	return init, gops
}

// CPUTime is the CPU time (user and system) of this process and of its
// waited-for children (ffmpeg processes, say).
func CPUTime() time.Duration {
	return SelfCPU() + ChildrenCPU()
}

// SelfCPU is the CPU time of this process.
func SelfCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// ChildrenCPU is the CPU time of this process's waited-for children.
func ChildrenCPU() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }

func rusage(who int) time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(who, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
