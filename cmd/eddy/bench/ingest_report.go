package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
)

// ingestResults is the report of one run.
type ingestResults struct {
	Streams    int     `json:"streams"`
	WarmupS    float64 `json:"warmup_seconds"`
	Clip       string  `json:"clip"`
	ClipSpanS  float64 `json:"clip_span_seconds"`
	GOPS       float64 `json:"gop_seconds"` // keyframe interval as sent
	FrameMS    float64 `json:"frame_ms"`    // video frame interval as sent
	Server     string  `json:"server"`      // "child: …" or "external"
	Endpoint   string  `json:"endpoint"`    // HTTP URL
	RTSP       string  `json:"rtsp"`        // host:port
	ServerPID  int     `json:"server_pid,omitempty"`
	ServerLog  string  `json:"server_log,omitempty"`
	DataDir    string  `json:"data_dir,omitempty"` // kept child data directory
	CPUs       int     `json:"cpus"`
	ClockTicks float64 `json:"clock_ticks_per_second"`
	procFigures
	// DataGrowthBytes is how much the started server's data directory
	// grew over the window (set in a comparison with MediaMTX).
	DataGrowthBytes *int64 `json:"data_dir_growth_bytes_window,omitempty"`

	FragmentsPersisted int64   `json:"fragments_persisted"` // eddy_fragments_persisted_total, window delta
	FragmentsPerSecond float64 `json:"fragments_per_second"`
	FragmentsListed    int     `json:"fragments_listed"`   // ListFragments, server timestamp in the window
	FragmentsExpected  float64 `json:"fragments_expected"` // streams × window / GOP
	KeyframesSent      int     `json:"keyframes_sent"`     // publishers, in the window

	LatencyMethod       string   `json:"latency_method"`
	LatencyCount        int64    `json:"latency_observations"`
	LatencyP50MS        *float64 `json:"persist_p50_ms,omitempty"`
	LatencyP99MS        *float64 `json:"persist_p99_ms,omitempty"`
	LatencyP99Over      bool     `json:"persist_p99_beyond_last_bucket,omitempty"`
	LatencyWithin50msPc *float64 `json:"persist_within_50ms_percent,omitempty"`

	SentMediaS       float64          `json:"sent_media_seconds"`   // video the publishers sent over the listed fragments' span
	ListedMediaS     float64          `json:"listed_media_seconds"` // Σ FragmentLengthInMilliseconds
	LostMediaS       float64          `json:"lost_media_seconds"`
	Gaps             int              `json:"gaps"`
	GapsAtPubErrors  int              `json:"gaps_at_publisher_errors"` // within 2 s of a publisher disconnect
	GapsAtPubErrorsS float64          `json:"gap_seconds_at_publisher_errors"`
	MissingNumbers   int              `json:"missing_fragment_numbers"`
	Counters         map[string]int64 `json:"loss_counters"` // whole-run deltas of overflow/drop/error counters
	PublisherErrors  int              `json:"publisher_errors"`
	StreamsWithLoss  int              `json:"streams_with_loss"`
	Loss             bool             `json:"loss"`
	Problems         []string         `json:"problems,omitempty"`
	ServerWarnings   []string         `json:"server_warnings,omitempty"` // WARN/ERROR lines of a started server's log
	ServerLogTail    string           `json:"server_log_tail,omitempty"`
	PerStream        []ingestStream   `json:"per_stream"`
}

// ingestStream is one stream's loss accounting.
type ingestStream struct {
	Name            string   `json:"name"`
	Fragments       int      `json:"fragments"`
	SentMediaMS     float64  `json:"sent_media_ms"`
	ListedMediaMS   float64  `json:"listed_media_ms"`
	LostMediaMS     float64  `json:"lost_media_ms"`
	Gaps            int      `json:"gaps"`
	GapsAtPubErrors int      `json:"gaps_at_publisher_errors"`
	GapAtPubErrMS   float64  `json:"gap_ms_at_publisher_errors"`
	MissingNumbers  int      `json:"missing_fragment_numbers"`
	FirstStartMS    float64  `json:"first_start_after_window_ms"` // server time of the first fragment − window start
	LastStartMS     float64  `json:"last_start_before_end_ms"`    // window end − server time of the last fragment
	Connects        int      `json:"connects"`
	PublisherErrors []string `json:"publisher_errors,omitempty"`
	Loss            bool     `json:"loss"`
}

// ingestLossCounter reports whether a /metrics series counts lost or
// dropped media.
func ingestLossCounter(series string) bool {
	name, _, _ := strings.Cut(series, "{")
	if !strings.HasPrefix(name, "eddy_") {
		return false
	}
	switch name {
	case "eddy_recorder_overflows_total", "eddy_fragment_append_errors_total":
		return true
	}
	return strings.Contains(name, "drop") || strings.Contains(name, "overflow")
}

func (b *ingestBench) results(res *ingestResults, idle, p0, p1, after snapshot, lists map[string][]kvamtypes.Fragment) {
	b.procFigures(&res.procFigures, idle, p0, p1)
	win := p1.at.Sub(p0.at)
	n := float64(res.Streams)
	res.FragmentsPersisted = int64(p1.metrics["eddy_fragments_persisted_total"] - p0.metrics["eddy_fragments_persisted_total"])
	res.FragmentsPerSecond = float64(res.FragmentsPersisted) / win.Seconds()

	hist := histDelta("eddy_fragment_persist_seconds", p0.metrics, p1.metrics)
	if len(hist) > 0 {
		res.LatencyCount = int64(hist[len(hist)-1].count)
	}
	if v, _, ok := histQuantile(0.5, hist); ok {
		ms := v * 1000
		res.LatencyP50MS = &ms
	}
	if v, over, ok := histQuantile(0.99, hist); ok {
		ms := v * 1000
		res.LatencyP99MS, res.LatencyP99Over = &ms, over
	}
	if f, ok := histFractionBelow(0.05, hist); ok {
		pc := 100 * f
		res.LatencyWithin50msPc = &pc
	}

	res.Counters = map[string]int64{}
	for k, v := range after.metrics {
		if ingestLossCounter(k) {
			d := int64(v - idle.metrics[k])
			res.Counters[k] = d
			if d > 0 {
				res.Problems = append(res.Problems, fmt.Sprintf("%s rose by %d during the run", k, d))
			}
		}
	}
	if _, ok := after.metrics["eddy_recorder_overflows_total"]; !ok {
		res.Problems = append(res.Problems, "eddy_recorder_overflows_total is missing from /metrics")
	}

	gop := b.gop()
	res.GOPS = gop.Seconds()
	res.FragmentsExpected = n * win.Seconds() / gop.Seconds()
	for _, p := range b.pubs {
		p.mu.Lock()
		units := append([]int64(nil), p.units...)
		keys := append([]int64(nil), p.keys...)
		st := ingestStream{Name: p.name, Connects: p.connects, PublisherErrors: append([]string(nil), p.errs...)}
		errAt := append([]time.Time(nil), p.errAt...)
		p.mu.Unlock()
		for _, k := range keys {
			if k >= p0.at.UnixNano() && k <= p1.at.UnixNano() {
				res.KeyframesSent++
			}
		}
		sort.Slice(units, func(i, j int) bool { return units[i] < units[j] })
		frame := medianSpacing(units)
		if frame <= 0 {
			frame = 40 * time.Millisecond
		}
		if res.FrameMS == 0 {
			res.FrameMS = float64(frame) / 1e6
		}
		probs := analyzeIngestStream(&st, units, errAt, lists[p.name], p0.at, p1.at, gop, frame)
		res.Problems = append(res.Problems, probs...)
		res.FragmentsListed += st.Fragments
		res.SentMediaS += st.SentMediaMS / 1000
		res.ListedMediaS += st.ListedMediaMS / 1000
		res.LostMediaS += math.Max(st.LostMediaMS, 0) / 1000
		res.Gaps += st.Gaps
		res.GapsAtPubErrors += st.GapsAtPubErrors
		res.GapsAtPubErrorsS += st.GapAtPubErrMS / 1000
		res.MissingNumbers += st.MissingNumbers
		res.PublisherErrors += len(st.PublisherErrors)
		if len(st.PublisherErrors) > 0 {
			st.Loss = true
			res.Problems = append(res.Problems, fmt.Sprintf("%s: %d publisher error(s), first: %s", p.name, len(st.PublisherErrors), st.PublisherErrors[0]))
		}
		if st.Loss {
			res.StreamsWithLoss++
		}
		res.PerStream = append(res.PerStream, st)
	}
}

// analyzeIngestStream compares a stream's fragments listed over [from, to]
// (by server timestamp) with the video units its publisher sent. The
// fragments' producer timestamps are the publisher's send clock (RTCP
// sender reports), so the span they cover can be matched to the units
// sent in it: the media time of those units must equal the sum of the
// fragments' lengths, consecutive fragments must abut within a frame, and
// fragment numbers must be consecutive. The first and last fragment must
// start within a GOP (+0.5 s) of the window's edges.
//
// A gap within 2 s of a publisher error (the publisher's RTSP connection
// failed and it reconnected) is counted apart: the media there may have
// been lost in the publisher (its queue is dropped with the connection)
// rather than in the server.
func analyzeIngestStream(st *ingestStream, units []int64, errAt []time.Time, frags []kvamtypes.Fragment, from, to time.Time, gop, frame time.Duration) []string {
	var probs []string
	bad := func(format string, args ...any) {
		st.Loss = true
		probs = append(probs, st.Name+": "+fmt.Sprintf(format, args...))
	}
	st.Fragments = len(frags)
	if len(frags) == 0 {
		sent := sentMedia(units, from.UnixNano(), to.UnixNano(), frame)
		st.SentMediaMS, st.LostMediaMS = float64(sent)/1e6, float64(sent)/1e6
		bad("no fragment listed in the window (publisher sent %.1f s of video in it)", st.SentMediaMS/1000)
		return probs
	}
	const maxReported = 3
	reported := 0
	var listed time.Duration
	for i, f := range frags {
		listed += time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond
		if i == 0 {
			continue
		}
		prev := frags[i-1]
		if d := fragSeq(f) - fragSeq(prev); d != 1 {
			st.MissingNumbers += int(d) - 1
			bad("fragment numbers jump from %s to %s (%d not listed)", aws.ToString(prev.FragmentNumber), aws.ToString(f.FragmentNumber), int(d)-1)
		}
		prevEnd := aws.ToTime(prev.ProducerTimestamp).Add(time.Duration(prev.FragmentLengthInMilliseconds) * time.Millisecond)
		gap := aws.ToTime(f.ProducerTimestamp).Sub(prevEnd)
		if gap > frame || gap < -frame {
			st.Gaps++
			atErr := ""
			for _, e := range errAt {
				if !e.Before(prevEnd.Add(-2*time.Second)) && !e.After(aws.ToTime(f.ProducerTimestamp).Add(500*time.Millisecond)) {
					atErr = " at a publisher reconnect (publisher error " + e.Format("15:04:05.000") + ")"
					st.GapsAtPubErrors++
					st.GapAtPubErrMS += float64(gap) / 1e6
					break
				}
			}
			if reported < maxReported {
				reported++
				what := "gap"
				if gap < 0 {
					what = "overlap"
				}
				bad("%s of %v between fragment %s (ends %s) and %s (starts %s)%s", what, gap.Abs().Round(time.Millisecond),
					aws.ToString(prev.FragmentNumber), prevEnd.Format("15:04:05.000"),
					aws.ToString(f.FragmentNumber), aws.ToTime(f.ProducerTimestamp).Format("15:04:05.000"), atErr)
			}
		}
	}
	if st.Gaps > reported {
		bad("%d more gaps", st.Gaps-reported)
	}
	first, last := frags[0], frags[len(frags)-1]
	lo := aws.ToTime(first.ProducerTimestamp).UnixNano() - int64(frame/2)
	hi := aws.ToTime(last.ProducerTimestamp).UnixNano() + last.FragmentLengthInMilliseconds*1e6 - int64(frame/2)
	sent := sentMedia(units, lo, hi, frame)
	st.SentMediaMS = float64(sent) / 1e6
	st.ListedMediaMS = float64(listed) / 1e6
	st.LostMediaMS = st.SentMediaMS - st.ListedMediaMS
	// Lengths are whole milliseconds: allow 1 ms per fragment, plus half a frame.
	tol := float64(frame/2)/1e6 + float64(len(frags))
	if math.Abs(st.LostMediaMS) > tol {
		if st.LostMediaMS > 0 {
			bad("publisher sent %.3f s of video over the listed fragments' span, fragments hold %.3f s: %.3f s lost",
				st.SentMediaMS/1000, st.ListedMediaMS/1000, st.LostMediaMS/1000)
		} else {
			bad("fragments hold %.3f s of video, publisher sent %.3f s over their span: %.3f s too much (duplicated?)",
				st.ListedMediaMS/1000, st.SentMediaMS/1000, -st.LostMediaMS/1000)
		}
	} else {
		st.LostMediaMS = 0
	}
	edge := gop + 500*time.Millisecond
	st.FirstStartMS = float64(aws.ToTime(first.ServerTimestamp).Sub(from)) / 1e6
	st.LastStartMS = float64(to.Sub(aws.ToTime(last.ServerTimestamp))) / 1e6
	if d := aws.ToTime(first.ServerTimestamp).Sub(from); d > edge {
		bad("first fragment in the window starts %v after its start (want ≤ one GOP): the stream was not recorded before", d.Round(time.Millisecond))
	}
	if d := to.Sub(aws.ToTime(last.ServerTimestamp)); d > edge {
		bad("last fragment in the window starts %v before its end (want ≤ one GOP): recording stopped", d.Round(time.Millisecond))
	}
	return probs
}

// sentMedia is the media time of the units sent (NTP times, sorted) in
// [lo, hi): each unit lasts until the next one, or one frame when the next
// is more than three frames away (a reconnect) or missing.
func sentMedia(units []int64, lo, hi int64, frame time.Duration) time.Duration {
	i := sort.Search(len(units), func(i int) bool { return units[i] >= lo })
	var sum time.Duration
	for ; i < len(units) && units[i] < hi; i++ {
		d := frame
		if i+1 < len(units) {
			if nd := time.Duration(units[i+1] - units[i]); nd > 0 && nd <= 3*frame {
				d = nd
			}
		}
		sum += d
	}
	return sum
}

// finish sets the verdict.
func (r *ingestResults) finish() {
	r.Loss = len(r.Problems) > 0 || r.StreamsWithLoss > 0 || r.LostMediaS > 0 || r.Gaps > 0 || r.MissingNumbers > 0
}

func (r *ingestResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "\neddy bench ingest: %d streams × %.1fs window (after %.0fs warm-up)\n", r.Streams, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "  clip     %s (%.1fs loop, GOP %.2fs, frame %.1f ms as sent)\n", r.Clip, r.ClipSpanS, r.GOPS, r.FrameMS)
	fmt.Fprintf(w, "  server   %s, pid %d, %s, rtsp://%s\n", r.Server, r.ServerPID, r.Endpoint, r.RTSP)
	fmt.Fprintf(w, "  machine  %d CPUs, load average %s → %s (shared machine: CPU and latency figures are noisy)\n\n", r.CPUs, r.LoadStart, r.LoadEnd)
	tw := table{w, 42, 34}.row
	tw("metric", "measured", "target")
	r.writeRows(tw, "≤ 0.75 at 10 streams, ≤ 0.44 at 100", "~1 MiB")
	tw("fragments persisted (metrics)", fmt.Sprintf("%d (%.2f/s)", r.FragmentsPersisted, r.FragmentsPerSecond), "")
	tw("fragments listed (server time in window)", fmt.Sprintf("%d", r.FragmentsListed), "")
	tw("fragments expected", fmt.Sprintf("%.1f (streams × window / GOP); %d keyframes sent", r.FragmentsExpected, r.KeyframesSent), "")
	p99 := fmtOpt(r.LatencyP99MS, "%.1f ms")
	if r.LatencyP99Over {
		p99 = "> " + p99
	}
	tw("persist latency p50 / p99", fmtOpt(r.LatencyP50MS, "%.1f ms")+" / "+p99, "p99 ≤ 50 ms")
	tw("  within 50 ms", fmtOpt(r.LatencyWithin50msPc, "%.1f%%")+fmt.Sprintf(" of %d (bucket-interpolated)", r.LatencyCount), "")
	tw("video sent / listed (listed span)", fmt.Sprintf("%.2f s / %.2f s", r.SentMediaS, r.ListedMediaS), "")
	lossLine := fmt.Sprintf("%.3f s lost, %d gaps, %d unlisted numbers, %d publisher errors", r.LostMediaS, r.Gaps, r.MissingNumbers, r.PublisherErrors)
	tw("loss", lossLine, "zero")
	if r.GapsAtPubErrors > 0 {
		tw("  gaps at publisher reconnects", fmt.Sprintf("%d of %d, %.3f s", r.GapsAtPubErrors, r.Gaps, r.GapsAtPubErrorsS), "")
	}
	keys := make([]string, 0, len(r.Counters))
	for k := range r.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tw("  "+k, strconv.FormatInt(r.Counters[k], 10), "0")
	}
	if !r.Loss {
		fmt.Fprintf(w, "\n  RESULT: zero loss (%d streams with loss)\n", r.StreamsWithLoss)
		return
	}
	fmt.Fprintf(w, "\n  RESULT: LOSS OR ERRORS in %d of %d streams:\n", r.StreamsWithLoss, r.Streams)
	writeProblems(w, r.Problems, 30)
	writeLogTail(w, r.ServerLogTail)
}
