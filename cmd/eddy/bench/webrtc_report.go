package bench

import (
	"fmt"
	"io"
	"time"
)

// rtcWindow is one measured window.
type rtcWindow struct {
	Viewers     int     `json:"viewers"`
	Seconds     float64 `json:"seconds"`
	ServerCPUS  float64 `json:"server_cpu_s"`
	ServerRSSMB float64 `json:"server_rss_mb"`
	FramesSent  int64   `json:"frames_sent"`
	Samples     int     `json:"latency_samples"`
	FirstP50MS  float64 `json:"first_packet_out_p50_ms"`
	FirstP99MS  float64 `json:"first_packet_out_p99_ms"`
	FirstMaxMS  float64 `json:"first_packet_out_max_ms"`
	LastP50MS   float64 `json:"last_packet_out_p50_ms"`
	LastP99MS   float64 `json:"last_packet_out_p99_ms"`
	// Stamped: "out" is the kernel's receive stamp at each viewer's socket
	// (on loopback, the server's send); else when the viewer read it.
	Stamped bool `json:"out_kernel_stamped"`
	// The same to the packets read by the viewers (decrypted, through
	// pion): what a bench with N peers on the server's cores adds.
	ReadFirstP50MS float64 `json:"first_packet_read_p50_ms"`
	ReadFirstP99MS float64 `json:"first_packet_read_p99_ms"`
	ReadLastP99MS  float64 `json:"last_packet_read_p99_ms"`
	CPUPerViewer   float64 `json:"server_cpu_s_per_viewer_minute,omitempty"`
	CPUNet         float64 `json:"server_cpu_s_per_viewer_minute_net,omitempty"`
	// Server-side, from its histograms: a unit's arrival (its first RTP
	// packet read) to its first / last RTP packet handed to the kernel.
	ServerFirstP50MS float64 `json:"server_first_packet_p50_ms"`
	ServerFirstP99MS float64 `json:"server_first_packet_p99_ms"`
	ServerLastP50MS  float64 `json:"server_last_packet_p50_ms"`
	ServerLastP99MS  float64 `json:"server_last_packet_p99_ms"`
	ServerUnits      int64   `json:"server_units_timed"`
	MinFrames        int     `json:"min_frames_per_viewer"`
	MaxGapMS         float64 `json:"max_gap_ms"`
	Starved          int     `json:"viewers_starved"`
}

func rtcWindowOf(p0, p1 snapshot, viewers int) *rtcWindow {
	w := &rtcWindow{Viewers: viewers, Seconds: p1.at.Sub(p0.at).Seconds()}
	if c, _ := serverCPU(p0, p1); c != nil {
		w.ServerCPUS = *c
	}
	w.ServerRSSMB = float64(p1.rss) / (1 << 20)
	return w
}

// serverHist reads the server's forwarding histograms over the window.
func serverHist(w *rtcWindow, p0, p1 snapshot) {
	q := func(name string, q float64) float64 {
		v, _, ok := histQuantile(q, histDelta(name, p0.metrics, p1.metrics))
		if !ok {
			return 0
		}
		return v * 1000
	}
	const first, last = "eddy_webrtc_forward_first_packet_seconds", "eddy_webrtc_forward_last_packet_seconds"
	w.ServerFirstP50MS, w.ServerFirstP99MS = q(first, 0.5), q(first, 0.99)
	w.ServerLastP50MS, w.ServerLastP99MS = q(last, 0.5), q(last, 0.99)
	w.ServerUnits = int64(p1.metrics[first+"_count"] - p0.metrics[first+"_count"])
}

func (b *rtcBench) viewerStats(w *rtcWindow, viewers []*rtcViewer, from, to int64, base0, base1 snapshot) {
	var first, last, readFirst, readLast []time.Duration
	w.MinFrames = -1
	w.Stamped = len(viewers) > 0
	for _, v := range viewers {
		s, frames := v.window(from, to)
		for _, x := range s {
			first = append(first, x.first)
			last = append(last, x.last)
			readFirst = append(readFirst, x.readFirst)
			readLast = append(readLast, x.readLast)
		}
		w.Stamped = w.Stamped && v.conn.oob != nil
		if w.MinFrames < 0 || len(frames) < w.MinFrames {
			w.MinFrames = len(frames)
		}
		prev := from
		var gap int64
		for _, f := range frames {
			gap = max(gap, f-prev)
			prev = f
		}
		gap = max(gap, to-prev)
		w.MaxGapMS = max(w.MaxGapMS, float64(gap)/1e6)
		if float64(len(frames)) < 0.9*float64(w.FramesSent) || gap > int64(time.Second) {
			w.Starved++
		}
	}
	w.Samples = len(first)
	if len(first) > 0 {
		w.FirstP50MS, w.FirstP99MS, w.FirstMaxMS = msQuantiles(first)
		w.LastP50MS, w.LastP99MS, _ = msQuantiles(last)
		w.ReadFirstP50MS, w.ReadFirstP99MS, _ = msQuantiles(readFirst)
		_, w.ReadLastP99MS, _ = msQuantiles(readLast)
	}
	minutes := w.Seconds / 60
	if w.Viewers > 0 && minutes > 0 {
		w.CPUPerViewer = w.ServerCPUS / float64(w.Viewers) / minutes
		baseRate := 0.0
		if bs := base1.at.Sub(base0.at).Seconds(); bs > 0 && base0.serverCPUOK && base1.serverCPUOK {
			baseRate = (base1.serverCPU - base0.serverCPU) / bs
		}
		w.CPUNet = (w.ServerCPUS - baseRate*w.Seconds) / float64(w.Viewers) / minutes
	}
}

type rtcResults struct {
	Viewers   int        `json:"viewers"`
	DurationS float64    `json:"window_s"`
	WarmupS   float64    `json:"warmup_s"`
	Clip      string     `json:"clip"`
	Server    string     `json:"server"`
	Endpoint  string     `json:"endpoint"`
	ServerPID int        `json:"server_pid"`
	CPUs      int        `json:"cpus"`
	Baseline  *rtcWindow `json:"baseline"`
	One       *rtcWindow `json:"one_viewer"`
	Many      *rtcWindow `json:"many_viewers,omitempty"`
	PeakRSSMB int64      `json:"server_peak_rss_mb"`
}

func (r *rtcResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "eddy bench webrtc: %s, %d CPUs; windows of %.0f s after %.0f s warm-up\n", r.Server, r.CPUs, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "clip: %s\n", r.Clip)
	if r.Baseline != nil {
		fmt.Fprintf(w, "baseline (publisher alone): server CPU %.2f s in %.1f s, RSS %.0f MB\n", r.Baseline.ServerCPUS, r.Baseline.Seconds, r.Baseline.ServerRSSMB)
	}
	for _, win := range []*rtcWindow{r.One, r.Many} {
		if win == nil {
			continue
		}
		out := "the kernel's receive stamp at the viewer's socket"
		if !win.Stamped {
			out = "read by the viewer: no kernel stamps here"
		}
		fmt.Fprintf(w, "%d viewer(s): forwarding latency, last RTP packet in (RTSP) → first RTP packet out (WHEP; %s): p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d frames)\n",
			win.Viewers, out, win.FirstP50MS, win.FirstP99MS, win.FirstMaxMS, win.Samples)
		fmt.Fprintf(w, "  … → last RTP packet out: p50 %.2f ms, p99 %.2f ms\n", win.LastP50MS, win.LastP99MS)
		if win.Stamped {
			fmt.Fprintf(w, "  … → read by the viewers (decrypted by %d pion peers on the same cores): first packet p50 %.2f ms, p99 %.2f ms; last packet p99 %.2f ms\n",
				win.Viewers, win.ReadFirstP50MS, win.ReadFirstP99MS, win.ReadLastP99MS)
		}
		fmt.Fprintf(w, "  inside the server (unit's first RTP packet read → packet handed to the kernel; %d units × viewers, histogram): first packet p50 %.2f ms, p99 %.2f ms; last packet p50 %.2f ms, p99 %.2f ms\n",
			win.ServerUnits, win.ServerFirstP50MS, win.ServerFirstP99MS, win.ServerLastP50MS, win.ServerLastP99MS)
		fmt.Fprintf(w, "  server CPU %.2f s in %.1f s: %.4f CPU-s per viewer-minute (%.4f net of the baseline); RSS %.0f MB\n",
			win.ServerCPUS, win.Seconds, win.CPUPerViewer, win.CPUNet, win.ServerRSSMB)
		fmt.Fprintf(w, "  frames sent %d; fewest frames at a viewer %d; longest wait between frames %.0f ms; viewers starved %d of %d\n",
			win.FramesSent, win.MinFrames, win.MaxGapMS, win.Starved, win.Viewers)
	}
	fmt.Fprintf(w, "server peak RSS (VmHWM): %d MB\n", r.PeakRSSMB)
}
