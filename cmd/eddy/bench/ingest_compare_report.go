package bench

import (
	"fmt"
	"io"
	"strings"
)

// writeText prints Eddy's report (bench ingest's, unchanged), MediaMTX's,
// then the two side by side with the ratios and the verdict.
func (r *ingestCompareResults) writeText(w io.Writer) {
	if r.Eddy != nil {
		r.Eddy.writeText(w)
	}
	if m := r.MediaMTX; m != nil {
		m.writeText(w, r.Streams)
	}
	fmt.Fprintf(w, "\neddy bench ingest --compare: %s, %d streams, %.0fs window each after %.0fs stagger + %.0fs warm-up, %.0fs pause between\n",
		strings.Join(r.Order, " then "), r.Streams, r.DurationS, r.StaggerS, r.WarmupS, r.PauseS)
	fmt.Fprintf(w, "  same clip (%s), same publishers and stream names, %s, each server started fresh\n", r.Clip, r.Transport)
	fmt.Fprintf(w, "  MediaMTX records fMP4 without fsync or an index; Eddy fsyncs each fragment before listing it, and indexes it\n")
	fmt.Fprintf(w, "  Eddy's side also scrapes its /metrics in the window, and --server-profile profiles Eddy only (each < 1%% of its CPU)\n\n")
	m, e := r.MediaMTX, r.Eddy
	if m == nil {
		m = &mediamtxIngestResults{}
	}
	if e == nil {
		e = &ingestResults{}
	}
	row := func(k, mv, ev, ratio, target string) {
		fmt.Fprintf(w, "  %-36s %-18s %-18s %-14s %s\n", k, mv, ev, ratio, target)
	}
	row("metric", "MediaMTX", "Eddy", "Eddy/MediaMTX", "target")
	row("server CPU per stream-minute", fmtOpt(m.ServerCPUPerStreamMinute, "%.3f CPU-s"), fmtOpt(e.ServerCPUPerStreamMinute, "%.3f CPU-s"),
		fmtOpt(r.CPURatio, "%.2f"), fmt.Sprintf("≤ %.2f", r.TargetCPURatio))
	row("server CPU, window", fmtOpt(m.ServerCPUPercent, "%.1f%% of a core"), fmtOpt(e.ServerCPUPercent, "%.1f%% of a core"), "", "")
	row("RSS per stream (end − idle)", fmt.Sprintf("%.2f MiB", m.RSSGrowthPerStreamMiB), fmt.Sprintf("%.2f MiB", e.RSSGrowthPerStreamMiB), fmtOpt(r.RSSGrowthRatio, "%.2f"), "")
	row("RSS per stream (peak − idle)", fmt.Sprintf("%.2f MiB", m.RSSPeakGrowthPerStreamMiB), fmt.Sprintf("%.2f MiB", e.RSSPeakGrowthPerStreamMiB), fmtOpt(r.RSSPeakGrowthRatio, "%.2f"), "")
	row("RSS per stream (peak / streams)", fmt.Sprintf("%.2f MiB", m.RSSPeakPerStreamMiB), fmt.Sprintf("%.2f MiB", e.RSSPeakPerStreamMiB), fmtOpt(r.RSSPeakRatio, "%.2f"), "")
	row("RSS idle / peak", fmt.Sprintf("%.0f / %.0f MiB", m.RSSIdleMiB, m.RSSPeakMiB), fmt.Sprintf("%.0f / %.0f MiB", e.RSSIdleMiB, e.RSSPeakMiB), "", "")
	eddyData := "n/a"
	if e.DataGrowthBytes != nil {
		eddyData = fmt.Sprintf("%.1f MiB", mib(*e.DataGrowthBytes)) + pctOpt(r.EddyWrittenRatio)
	}
	row("written in window (% of media sent)", fmt.Sprintf("%.1f MiB (%.0f%%)", mib(m.RecordedBytes), 100*m.RecordedRatio), eddyData, "", "")
	row("unread on server sockets (max, all)", fmt.Sprintf("%.0f KiB", m.ServerRxSumMaxKiB), fmt.Sprintf("%.0f KiB", e.ServerRxSumMaxKiB), "", "")
	row("publisher errors / reconnects", fmt.Sprintf("%d / %d", m.PublisherErrors, m.Reconnects), fmt.Sprintf("%d", e.PublisherErrors), "", "0")
	row("bench client CPU (publishers)", fmtOpt(m.ClientCPUPercent, "%.1f%% of a core"), fmtOpt(e.ClientCPUPercent, "%.1f%% of a core"), "", "")
	row("load average 1 min (window)", load1(m.LoadStart)+" → "+load1(m.LoadEnd), load1(e.LoadStart)+" → "+load1(e.LoadEnd), "", "")
	row("CPU pressure (PSI some, window)", fmtOpt(m.CPUPressurePc, "%.0f%%"), fmtOpt(e.CPUPressurePc, "%.0f%%"), "", "")
	if len(r.Problems) > 0 {
		fmt.Fprintf(w, "\n  comparison problems:\n")
		writeProblems(w, r.Problems, 0)
	}
	switch r.Verdict {
	case "PASS", "FAIL":
		fmt.Fprintf(w, "\n  RESULT: %s: Eddy uses %.2f× MediaMTX's CPU per stream-minute (target ≤ %.2f×)\n", r.Verdict, *r.CPURatio, r.TargetCPURatio)
	default:
		fmt.Fprintf(w, "\n  RESULT: INVALID comparison (see the problems above)\n")
	}
}

// writeText prints the MediaMTX side's figures.
func (m *mediamtxIngestResults) writeText(w io.Writer, streams int) {
	fmt.Fprintf(w, "\nMediaMTX %s: %d streams × %.1fs window\n", m.Version, streams, m.DurationS)
	fmt.Fprintf(w, "  server   child: %s (RTSP over TCP only, other servers off, recording fMP4), pid %d, rtsp://%s\n", m.Binary, m.ServerPID, m.RTSP)
	fmt.Fprintf(w, "  machine  load average %s → %s\n\n", m.LoadStart, m.LoadEnd)
	tw := table{w, 42, 34}.row
	m.writeRows(tw, "", "")
	tw("recorded in the window", fmt.Sprintf("%.1f MiB, %.0f%% of streams × clip media %.0f kbit/s × window (%.1f MiB); %d files",
		mib(m.RecordedBytes), 100*m.RecordedRatio, m.MediaBytesPerS*8/1000, m.ExpectedBytes/(1<<20), m.RecordedFiles), "")
	tw("samples discarded as too late (log)", fmt.Sprintf("%d (%d in the window) of %d video units sent", m.LateDiscarded, m.LateDiscardedWindow, m.UnitsSent), "0 in the window")
	tw("publisher errors / reconnects", fmt.Sprintf("%d / %d", m.PublisherErrors, m.Reconnects), "0")
	if n := len(m.ServerWarnings); n > 0 {
		tw("MediaMTX log warnings/errors (whole run)", fmt.Sprintf("%d, first: %s", n, m.ServerWarnings[0]), "")
	}
	if len(m.Problems) > 0 {
		fmt.Fprintf(w, "\n  problems:\n")
		writeProblems(w, m.Problems, 30)
		if m.ServerLogTail != "" {
			fmt.Fprintf(w, "\n  MediaMTX log (last lines):\n%s\n", m.ServerLogTail)
		}
	}
}

// load1 is the 1-minute figure of a load average ("0.52 0.40 0.31").
func load1(load string) string {
	if f := strings.Fields(load); len(f) > 0 {
		return f[0]
	}
	return "n/a"
}

// pctOpt is a ratio as " (N%)", "" when unknown.
func pctOpt(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf(" (%.0f%%)", 100**v)
}
