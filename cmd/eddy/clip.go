package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A clip downloads into OUT.part, with what is needed to resume it in
// OUT.part.json; OUT appears, whole, when the last byte is written. A
// download resumes with an HTTP Range on GetClip, which Eddy honors as an
// extension (AWS ignores it), validated by the clip's ETag (If-Range): a
// clip that changed on the server meanwhile (a fragment added at the
// range's end, one expired at its start) comes back whole and the
// download starts over rather than splicing two clips.

// clipState is OUT.part.json: the download in progress.
type clipState struct {
	Stream     string    `json:"stream"`
	Endpoint   string    `json:"endpoint"`
	Timestamps string    `json:"timestamps"`
	FromArg    string    `json:"fromArg"` // as typed (an age is resolved once)
	ToArg      string    `json:"toArg"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	ETag       string    `json:"etag"`
	Size       int64     `json:"size"`
}

// matches says whether a saved download is the one asked for again.
func (s *clipState) matches(o *clipState) bool {
	return s.Stream == o.Stream && s.Endpoint == o.Endpoint && s.Timestamps == o.Timestamps &&
		s.FromArg == o.FromArg && s.ToArg == o.ToArg
}

// clipResult is what `eddy clip --json` prints.
type clipResult struct {
	File        string    `json:"file"`
	Bytes       int64     `json:"bytes"`
	ETag        string    `json:"etag,omitempty"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	ResumedFrom int64     `json:"resumedFrom"` // bytes already there when the first request of this run went out
	Attempts    int       `json:"attempts"`
}

// clipDownload is one `eddy clip`.
type clipDownload struct {
	cli     *cli
	cl      *clients
	state   clipState
	out     string
	retries int
	idle    time.Duration // a connection that sends nothing this long is cut
	bar     *progressBar
}

// clip downloads a clip (GetClip) to a file, resuming after a cut
// connection and across runs: eddy clip.
func (c *cli) clip(ctx context.Context, args []string) error {
	cmd := c.command("clip", "STREAM --from TIME --to TIME [-o out.mp4] [--timestamps producer|server]",
		`Downloads a clip of a video stream as MP4 (GetClip), with a progress bar on a terminal. A cut
or silent connection is resumed with an HTTP Range (--retries times); a download that gave up
resumes when run again (OUT.part and OUT.part.json). Times read as an age (15m, 1h, 2d: that long
ago), RFC 3339, or a local time (2026-11-22 10:00).`)
	var tr timeRange
	cmd.fs.StringVar(&tr.from, "from", "", "start of the clip: an age (15m, 1h, 2d), RFC 3339, or a local time (2026-11-22 10:00)")
	cmd.fs.StringVar(&tr.to, "to", "now", "end of the clip (same forms)")
	cmd.fs.StringVar(&tr.timestamps, "timestamps", "producer", "select by producer (camera) or server (arrival) time")
	out := cmd.fs.String("o", "", "output file (default STREAM-START.mp4)")
	retries := cmd.fs.Int("retries", 5, "times to resume after a cut connection")
	idle := cmd.fs.Duration("idle-timeout", time.Minute, "resume when the server sends nothing this long")
	noProgress := cmd.fs.Bool("no-progress", false, "no progress bar")
	pos, cl, err := cmd.parse(ctx, args, 1)
	if err != nil {
		return err
	}
	if tr.from == "" {
		cmd.fs.Usage()
		return errors.New("clip: --from is required")
	}
	if _, err := tr.selector(); err != nil {
		return err
	}
	d := &clipDownload{cli: c, cl: cl, out: *out, retries: *retries, idle: *idle,
		state: clipState{Stream: pos[0], Endpoint: cmd.client.endpoint, Timestamps: tr.timestamps, FromArg: tr.from, ToArg: tr.to}}
	if d.state.From, d.state.To, err = tr.resolve(c.now()); err != nil {
		return err
	}
	if d.out == "" {
		d.out = pos[0] + "-" + d.state.From.UTC().Format("20060102T150405Z") + ".mp4"
	}
	if c.progress && !*noProgress && !cmd.json {
		d.bar = &progressBar{w: c.stderr}
	}
	res, err := d.run(ctx)
	if err != nil {
		return err
	}
	return cmd.output(res, func(w io.Writer) error {
		fmt.Fprintf(w, "%s: %s, %s to %s", res.File, humanBytes(res.Bytes), humanTime(res.From, true), humanTime(res.To, true))
		if res.ResumedFrom > 0 {
			fmt.Fprintf(w, " (resumed at %s)", humanBytes(res.ResumedFrom))
		}
		if res.Attempts > 1 {
			fmt.Fprintf(w, " (%d requests)", res.Attempts)
		}
		fmt.Fprintln(w)
		return nil
	})
}

func (d *clipDownload) partPath() string  { return d.out + ".part" }
func (d *clipDownload) statePath() string { return d.out + ".part.json" }

// run downloads until the clip is whole, resuming after each cut.
func (d *clipDownload) run(ctx context.Context) (*clipResult, error) {
	f, have, err := d.openPart()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res := &clipResult{File: d.out, From: d.state.From, To: d.state.To, ResumedFrom: have}
	for attempt := 0; ; attempt++ {
		res.Attempts++
		done, err := d.fetch(ctx, f, &have)
		if err == nil && done {
			break
		}
		var he *httpError
		if errors.As(err, &he) || ctx.Err() != nil || attempt >= d.retries {
			return nil, d.fail(f, have, err)
		}
		wait := time.Duration(1<<min(attempt, 4)) * 250 * time.Millisecond
		fmt.Fprintf(d.cli.stderr, "eddy clip: %v; resuming at %s in %s\n", err, humanBytes(have), humanDuration(wait))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := d.finish(f); err != nil {
		return nil, err
	}
	res.Bytes, res.ETag = have, d.state.ETag
	return res, nil
}

// fail ends a download that did not complete: what came is kept to
// resume from, and an empty start leaves no file behind.
func (d *clipDownload) fail(f *os.File, have int64, err error) error {
	if have > 0 {
		return fmt.Errorf("%w\n%s of %s kept in %s: run the same command again to resume", err, humanBytes(have), humanBytes(d.state.Size), d.partPath())
	}
	f.Close()
	_ = os.Remove(d.partPath())
	_ = os.Remove(d.statePath())
	return err
}

// openPart opens OUT.part, keeping what it holds when OUT.part.json says
// it is this download, and returns how many bytes are there.
func (d *clipDownload) openPart() (*os.File, int64, error) {
	var saved clipState
	b, err := os.ReadFile(d.statePath())
	keep := err == nil && json.Unmarshal(b, &saved) == nil && saved.matches(&d.state) && saved.ETag != ""
	flags := os.O_RDWR | os.O_CREATE
	if !keep {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(d.partPath(), flags, 0o644)
	if err != nil {
		return nil, 0, err
	}
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if keep && saved.Size > 0 && have > saved.Size {
		keep = false // longer than the clip: not a part of it
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, 0, err
		}
		have = 0
	}
	if keep {
		// The range as first resolved: an age typed again means the same clip.
		d.state.From, d.state.To, d.state.ETag, d.state.Size = saved.From, saved.To, saved.ETag, saved.Size
		if have > 0 {
			fmt.Fprintf(d.cli.stderr, "eddy clip: resuming %s at %s of %s (delete it to start over)\n", d.partPath(), humanBytes(have), humanBytes(saved.Size))
		}
	}
	return f, have, nil
}

// fetch sends one GetClip for the bytes after *have and appends what
// comes; done once the clip is whole.
func (d *clipDownload) fetch(ctx context.Context, f *os.File, have *int64) (bool, error) {
	if d.state.Size > 0 && *have == d.state.Size {
		return true, nil // whole already (a run that stopped before the rename)
	}
	// A stalled connection (no byte for d.idle) is cut like a dropped one.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("no data from the server for %s", d.idle)
	watch := time.AfterFunc(d.idle, func() { cancel(stalled) })
	defer watch.Stop()
	var status int
	var header http.Header
	out, err := d.cl.media.GetClip(ctx, d.input(), func(o *kinesisvideoarchivedmedia.Options) {
		o.APIOptions = append(o.APIOptions, rangeHeaders(*have, d.state.ETag))
	})
	if err != nil {
		return false, d.stallOr(ctx, d.cl.apiError(err))
	}
	defer out.Payload.Close()
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		status, header = raw.StatusCode, raw.Header
	}
	total, err := d.accept(f, status, header, have)
	if err != nil {
		return false, err
	}
	if d.bar != nil {
		d.bar.start(*have, total)
		defer d.bar.stop()
	}
	body := readerFunc(func(p []byte) (int, error) {
		n, err := out.Payload.Read(p)
		watch.Reset(d.idle)
		return n, err
	})
	n, err := io.Copy(f, d.bar.wrap(body))
	*have += n
	if err != nil {
		return false, d.stallOr(ctx, err)
	}
	if *have != total {
		return false, fmt.Errorf("the connection ended at byte %d of %d", *have, total)
	}
	return true, nil
}

// stallOr is the stall that cut the request, or err.
func (d *clipDownload) stallOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

func (d *clipDownload) input() *kinesisvideoarchivedmedia.GetClipInput {
	sel := amtypes.ClipFragmentSelectorTypeProducerTimestamp
	if d.state.Timestamps == "server" {
		sel = amtypes.ClipFragmentSelectorTypeServerTimestamp
	}
	return &kinesisvideoarchivedmedia.GetClipInput{StreamName: aws.String(d.state.Stream),
		ClipFragmentSelector: &amtypes.ClipFragmentSelector{FragmentSelectorType: sel,
			TimestampRange: &amtypes.ClipTimestampRange{StartTimestamp: aws.Time(d.state.From), EndTimestamp: aws.Time(d.state.To)}}}
}

// accept reads the answer's status: a 206 continues at *have, a 200 is
// the whole clip (the file starts over); it saves the state to resume
// with and returns the clip's size.
func (d *clipDownload) accept(f *os.File, status int, h http.Header, have *int64) (int64, error) {
	var total int64
	switch status {
	case http.StatusPartialContent:
		first, size, ok := parseContentRange(h.Get("Content-Range"))
		if !ok || first != *have {
			return 0, fmt.Errorf("unexpected Content-Range %q for a resume at byte %d", h.Get("Content-Range"), *have)
		}
		total = size
	case http.StatusOK:
		if *have > 0 {
			why := "the clip changed on the server (fragments added to the range, or expired)"
			if h.Get("ETag") == "" {
				why = "the server does not resume clips"
			}
			fmt.Fprintf(d.cli.stderr, "eddy clip: %s; starting over\n", why)
		}
		if err := f.Truncate(0); err != nil {
			return 0, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		*have = 0
		cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("the server sent the clip without Content-Length")
		}
		total = cl
	default:
		return 0, fmt.Errorf("unexpected HTTP status %d for GetClip", status)
	}
	d.state.ETag, d.state.Size = h.Get("ETag"), total
	return total, d.saveState()
}

func (d *clipDownload) saveState() error {
	b, err := json.MarshalIndent(&d.state, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(d.statePath(), b, 0o644)
}

// finish makes the clip durable under its name and forgets the state.
func (d *clipDownload) finish(f *os.File) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(d.partPath(), d.out); err != nil {
		return err
	}
	return os.Remove(d.statePath())
}

// rangeHeaders asks for the bytes from offset on (nothing when 0) of the
// clip etag names.
func rangeHeaders(offset int64, etag string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Build.Add(middleware.BuildMiddlewareFunc("EddyClipRange", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok && offset > 0 {
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
				if etag != "" {
					req.Header.Set("If-Range", etag)
				}
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
	}
}

// parseContentRange reads a 206's Content-Range, "bytes FIRST-LAST/SIZE",
// and returns FIRST and SIZE; false for anything else (another unit, "*",
// an unknown size, numbers out of order or past the end).
func parseContentRange(s string) (int64, int64, bool) {
	spec, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, size, ok := strings.Cut(spec, "/")
	if !ok {
		return 0, 0, false
	}
	first, last, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(first, 10, 63)
	b, err2 := strconv.ParseUint(last, 10, 63)
	n, err3 := strconv.ParseUint(size, 10, 63)
	if err1 != nil || err2 != nil || err3 != nil || a > b || b >= n {
		return 0, 0, false
	}
	return int64(a), int64(n), true
}
