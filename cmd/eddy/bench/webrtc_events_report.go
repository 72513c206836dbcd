package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// rtcEventsResults is the report of bench webrtc-events.
type rtcEventsResults struct {
	Viewers   int     `json:"viewers"`
	Rate      float64 `json:"events_per_second"`
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	Clip      string  `json:"clip"`
	Server    string  `json:"server"`
	Endpoint  string  `json:"endpoint"`
	CPUs      int     `json:"cpus"`
	Seconds   float64 `json:"window_s"`

	Written     int            `json:"events_written"`
	WriteErrors map[string]int `json:"write_errors,omitempty"`
	WriterLate  int64          `json:"writer_calls_behind_schedule"`
	Delivered   int            `json:"events_delivered"` // events × viewers read
	Missing     int            `json:"events_missing"`
	BeforeAck   int            `json:"events_before_ack"`
	BadMessages int            `json:"bad_messages"`
	MinClocks   int            `json:"min_clock_messages_per_viewer"`
	// Latency from the PutRecords acknowledgement to the event read from
	// a viewer's channel, over every (event, viewer).
	AckP50MS float64 `json:"ack_to_event_p50_ms"`
	AckP99MS float64 `json:"ack_to_event_p99_ms"`
	AckMaxMS float64 `json:"ack_to_event_max_ms"`
	// From the PutRecords request sent, for context.
	SendP50MS float64 `json:"send_to_event_p50_ms"`
	SendP99MS float64 `json:"send_to_event_p99_ms"`
	// PutRecords round trip.
	PutP50MS      float64 `json:"putrecords_p50_ms"`
	PutP99MS      float64 `json:"putrecords_p99_ms"`
	ServerSent    float64 `json:"server_events_sent"`
	ServerDropped float64 `json:"server_events_dropped"`
	ServerCPUS    float64 `json:"server_cpu_s"`
}

func (r *rtcEventsResults) writeText(w io.Writer) {
	fmt.Fprintf(w, "bench webrtc-events: %d WHEP viewers with an events channel, %g events/s for %gs (after %gs warm-up)\n",
		r.Viewers, r.Rate, r.DurationS, r.WarmupS)
	fmt.Fprintf(w, "  server: %s at %s; %d CPUs; clip %s\n", r.Server, r.Endpoint, r.CPUs, r.Clip)
	t := table{w: w, keyW: 38, valW: 30}
	t.row("PutRecords ack → event on channel", fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms", r.AckP50MS, r.AckP99MS, r.AckMaxMS), "(target: p99 ≤ 20 ms)")
	t.row("PutRecords sent → event on channel", fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", r.SendP50MS, r.SendP99MS), "")
	t.row("PutRecords round trip", fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", r.PutP50MS, r.PutP99MS), "")
	t.row("events written (measured)", fmt.Sprintf("%d", r.Written), "")
	t.row("delivered (event × viewer)", fmt.Sprintf("%d of %d; %d missing", r.Delivered, r.Written*r.Viewers, r.Missing), "")
	t.row("arrived before their ack", fmt.Sprintf("%d (counted as 0 ms)", r.BeforeAck), "")
	t.row("server: sent / dropped", fmt.Sprintf("%.0f / %.0f", r.ServerSent, r.ServerDropped), "")
	t.row("clock messages (fewest at a viewer)", fmt.Sprintf("%d in %.0fs", r.MinClocks, r.Seconds), "")
	t.row("server CPU in the window", fmt.Sprintf("%.1f s of %.1f s", r.ServerCPUS, r.Seconds), "")
	if r.WriterLate > 0 {
		t.row("writer calls behind schedule", fmt.Sprintf("%d", r.WriterLate), "")
	}
	if len(r.WriteErrors) > 0 {
		var errs []string
		for k, n := range r.WriteErrors {
			errs = append(errs, fmt.Sprintf("%s ×%d", k, n))
		}
		sort.Strings(errs)
		t.row("PutRecords errors", strings.Join(errs, ", "), "")
	}
	if r.BadMessages > 0 {
		t.row("messages not of the documented shapes", fmt.Sprintf("%d", r.BadMessages), "")
	}
}
