package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
)

// statusReport is what `eddy status` gathers: /healthz (open to anyone),
// the stream lists (the identity's ListStreams permissions) and /metrics
// (eddy:admin). What the identity may not read is reported as such.
type statusReport struct {
	Endpoint     string             `json:"endpoint"`
	Health       string             `json:"health"` // ok, degraded
	Listeners    []string           `json:"listeners"`
	VideoStreams *int               `json:"videoStreams,omitempty"`
	DataStreams  *int               `json:"dataStreams,omitempty"` // event streams not counted
	Metrics      map[string]float64 `json:"metrics,omitempty"`
	Errors       map[string]string  `json:"errors,omitempty"` // what could not be read, and why
}

// status prints the server's state at a glance: eddy status.
func (c *cli) status(ctx context.Context, args []string) error {
	cmd := c.command("status", "",
		`Shows a running server's health, listeners, streams, sessions, disk, ingest and process at a
glance (from /healthz, the Kinesis APIs and /metrics; disk, sessions and ingest need an identity
allowed eddy:admin). Exits 1 when the server reports itself degraded.`)
	_, cl, err := cmd.parse(ctx, args, 0)
	if err != nil {
		return err
	}
	rep := &statusReport{Endpoint: cmd.client.endpoint, Errors: map[string]string{}}
	if err := cl.health(ctx, rep); err != nil {
		return err // not reached, or not Eddy: nothing else to ask
	}
	if n, err := cl.countVideo(ctx); err == nil {
		rep.VideoStreams = &n
	} else {
		rep.Errors["videoStreams"] = err.Error()
	}
	if n, err := cl.countData(ctx); err == nil {
		rep.DataStreams = &n
	} else {
		rep.Errors["dataStreams"] = err.Error()
	}
	if m, err := cl.metrics(ctx); err == nil {
		rep.Metrics = m
	} else {
		rep.Errors["metrics"] = err.Error()
	}
	if err := cmd.output(rep, func(w io.Writer) error { return printStatus(w, rep, c.now()) }); err != nil {
		return err
	}
	if rep.Health != "ok" {
		return fmt.Errorf("status: the server reports %s", rep.Health)
	}
	return nil
}

// health reads /healthz: "ok" or "degraded", then a line per listener.
func (cl *clients) health(ctx context.Context, rep *statusReport) error {
	resp, err := cl.get(ctx, "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable || (lines[0] != "ok" && lines[0] != "degraded") {
		return fmt.Errorf("%s/healthz answered %s: is this Eddy?", cl.flags.endpoint, resp.Status)
	}
	rep.Health, rep.Listeners = lines[0], lines[1:]
	return nil
}

func (cl *clients) countVideo(ctx context.Context) (int, error) {
	n := 0
	p := kinesisvideo.NewListStreamsPaginator(cl.kvs, &kinesisvideo.ListStreamsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, cl.apiError(err)
		}
		n += len(page.StreamInfoList)
	}
	return n, nil
}

func (cl *clients) countData(ctx context.Context) (int, error) {
	n := 0
	p := kinesis.NewListStreamsPaginator(cl.kds, &kinesis.ListStreamsInput{Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, cl.apiError(err)
		}
		for _, name := range page.StreamNames {
			if !strings.HasSuffix(name, eventsSuffix) {
				n++
			}
		}
	}
	return n, nil
}

// metrics reads the figures of statusMetrics from /metrics.
func (cl *clients) metrics(ctx context.Context) (map[string]float64, error) {
	resp, err := cl.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, readHTTPError(resp)
	}
	return parseStatusMetrics(resp.Body)
}

// printStatus writes the report for people.
func printStatus(w io.Writer, r *statusReport, now time.Time) error {
	m := r.Metrics
	up := ""
	if t, ok := m["startTime"]; ok {
		up = " (up " + humanDuration(now.Sub(time.Unix(int64(t), 0))) + ")"
	}
	fmt.Fprintf(w, "Eddy at %s: %s%s\n", r.Endpoint, r.Health, up)
	for _, l := range r.Listeners {
		fmt.Fprintln(w, "  "+l)
	}
	t := newTable(w)
	streams := []string{}
	if r.VideoStreams != nil {
		streams = append(streams, fmt.Sprintf("%d video", *r.VideoStreams))
	}
	if v, ok := m["recording"]; ok {
		streams = append(streams, fmt.Sprintf("%.0f recording now", v))
	}
	if r.DataStreams != nil {
		streams = append(streams, fmt.Sprintf("%d data", *r.DataStreams))
	}
	t.row("Streams", orUnknown(strings.Join(streams, ", "), r.Errors["videoStreams"], r.Errors["dataStreams"]))
	if r.Metrics == nil {
		why := r.Errors["metrics"]
		if errAccessDeniedText(why) {
			why += " (disk, sessions and ingest need an identity allowed eddy:admin)"
		}
		t.row("Metrics", "not readable: "+why)
		return t.flush()
	}
	t.row("Sessions", sessions(m))
	t.row("Disk", disk(m))
	if o := objectStorage(m); o != "" {
		t.row("Bucket", o) // storage.object
	}
	t.row("Ingest", fmt.Sprintf("%s fragments persisted (%s), %s append errors, %s live readers dropped, %s trimmed by retention",
		count(m, "fragmentsPersisted"), bytesOf(m, "fragmentBytes"), count(m, "fragmentAppendErrors"), count(m, "liveReaderDrops"), bytesOf(m, "retentionTrimmedBytes")))
	t.row("Process", fmt.Sprintf("RSS %s, %s of %s open files, %s goroutines", bytesOf(m, "residentBytes"), count(m, "openFiles"), count(m, "maxFiles"), count(m, "goroutines")))
	t.row("Auth", count(m, "authFailures")+" failed authentications")
	return t.flush()
}

// sessions counts connections per protocol, and publishers and viewers
// where the server reports sessions by role.
func sessions(m map[string]float64) string {
	roles := func(pub, play string) string {
		p, okp := m[pub]
		v, okv := m[play]
		if !okp && !okv {
			return ""
		}
		return fmt.Sprintf(" (%.0f publishing, %.0f playing)", p, v)
	}
	s := countOf(m, "rtspConnections", "RTSP connection") + roles(sessionKey("rtsp_publish"), sessionKey("rtsp_read")) + ", " +
		countOf(m, "webrtcPeerConnections", "WebRTC peer connection") + roles(sessionKey("webrtc_whip"), sessionKey("webrtc_whep"))
	if n, ok := m[sessionKey("hls")]; ok {
		s += ", " + plural(int(n), "HLS session")
	}
	return s
}

// countOf is "3 things", or "? things" when the server does not report it.
func countOf(m map[string]float64, key, noun string) string {
	if v, ok := m[key]; ok {
		return plural(int(v), noun)
	}
	return "? " + noun + "s"
}

// disk describes the data directory's file system, when the server
// reports it: free space, the floor retention keeps, full-disk errors.
func disk(m map[string]float64) string {
	free, ok := m["diskFreeBytes"]
	if !ok {
		return "not reported by this server"
	}
	s := humanBytes(int64(free)) + " free"
	if total := m["diskTotalBytes"]; total > 0 {
		s = fmt.Sprintf("%s free of %s (%.0f%%)", humanBytes(int64(free)), humanBytes(int64(total)), 100*free/total)
	}
	if floor, ok := m["diskMinFreeBytes"]; ok {
		s += ", retention keeps " + humanBytes(int64(floor)) + " free"
	}
	if n := m["diskFullErrors"]; n > 0 {
		s += fmt.Sprintf(", %.0f writes failed on a full disk", n)
	}
	return s
}

// objectStorage describes the object-storage tier, when the server has
// one: what waits for upload and for how long, what went up, failed or
// was lost, whether the store answers reads, and the read cache's hits.
func objectStorage(m map[string]float64) string {
	pending, ok := m["objectPendingBytes"]
	if !ok {
		return ""
	}
	s := "nothing waiting for upload"
	if n := m["objectPendingSegments"]; n > 0 {
		s = fmt.Sprintf("%s waiting for upload in %s (the oldest for %s)", humanBytes(int64(pending)), plural(int(n), "segment"),
			(time.Duration(m["objectLagSeconds"]) * time.Second).String())
	}
	s += ", " + bytesOf(m, "objectUploadedBytes") + " uploaded"
	if n := m["objectUploadFailures"]; n > 0 {
		s += fmt.Sprintf(" (%.0f failed attempts, retried)", n)
	}
	if n := m["objectLostBytes"]; n > 0 {
		s += ", " + humanBytes(int64(n)) + " LOST before upload (queue full)"
	}
	if v, ok := m["objectAvailable"]; ok && v < 1 {
		s += ", cold reads failing (the store does not answer)"
	}
	if hits, misses := m["objectCacheHits"], m["objectCacheMisses"]; hits+misses > 0 {
		s += fmt.Sprintf(", read cache %.0f%% hits", 100*hits/(hits+misses))
	}
	return s
}

func count(m map[string]float64, key string) string {
	if v, ok := m[key]; ok {
		return fmt.Sprintf("%.0f", v)
	}
	return "?"
}

func bytesOf(m map[string]float64, key string) string {
	if v, ok := m[key]; ok {
		return humanBytes(int64(v))
	}
	return "?"
}

// orUnknown is s, or the reasons it could not be read.
func orUnknown(s string, errs ...string) string {
	var why []string
	for _, e := range errs {
		if e != "" {
			why = append(why, e)
		}
	}
	if len(why) == 0 {
		return s
	}
	if s != "" {
		s += "; "
	}
	return s + "not readable: " + strings.Join(why, "; ")
}

func errAccessDeniedText(s string) bool {
	return strings.HasPrefix(s, "AccessDeniedException")
}
