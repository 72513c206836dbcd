package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kdstypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvstypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/server"
)

// eventsSuffix ends the name of a video stream's event stream (the
// Kinesis data stream each video stream has).
const eventsSuffix = ".events"

// Stream kinds, as `streams ls` marks them.
const (
	kindVideo  = "video"  // a Kinesis Video stream
	kindData   = "data"   // a Kinesis data stream
	kindEvents = "events" // the data stream of a video stream's events
)

// streamRow is one stream as the chores print it.
type streamRow struct {
	Kind           string     `json:"kind"`
	Name           string     `json:"name"`
	ARN            string     `json:"arn,omitempty"`
	Status         string     `json:"status"`
	RetentionHours int64      `json:"retentionHours"`
	Created        *time.Time `json:"created,omitempty"`
	MediaType      string     `json:"mediaType,omitempty"` // video
	Version        string     `json:"version,omitempty"`   // video
	Shards         *int32     `json:"openShards,omitempty"`
	Mode           string     `json:"mode,omitempty"` // data: PROVISIONED or ON_DEMAND
}

func videoRow(s *kvstypes.StreamInfo) streamRow {
	return streamRow{Kind: kindVideo, Name: aws.ToString(s.StreamName), ARN: aws.ToString(s.StreamARN),
		Status: string(s.Status), RetentionHours: int64(aws.ToInt32(s.DataRetentionInHours)),
		Created: s.CreationTime, MediaType: aws.ToString(s.MediaType), Version: aws.ToString(s.Version)}
}

func dataRow(s *kdstypes.StreamDescriptionSummary, kind string) streamRow {
	r := streamRow{Kind: kind, Name: aws.ToString(s.StreamName), ARN: aws.ToString(s.StreamARN),
		Status: string(s.StreamStatus), RetentionHours: int64(aws.ToInt32(s.RetentionPeriodHours)),
		Created: s.StreamCreationTimestamp, Shards: s.OpenShardCount}
	if s.StreamModeDetails != nil {
		r.Mode = string(s.StreamModeDetails.StreamMode)
	}
	return r
}

// details is the last column of a stream's row.
func (r streamRow) details() string {
	switch r.Kind {
	case kindVideo:
		if r.MediaType != "" {
			return r.MediaType + ", events in " + r.Name + eventsSuffix
		}
		return "events in " + r.Name + eventsSuffix
	case kindEvents:
		return "events of video stream " + strings.TrimSuffix(r.Name, eventsSuffix)
	}
	return fmt.Sprintf("%d shards, %s", aws.ToInt32(r.Shards), r.Mode)
}

func printStreams(w io.Writer, rows []streamRow) error {
	t := newTable(w, "KIND", "NAME", "STATUS", "RETENTION", "CREATED", "DETAILS")
	for _, r := range rows {
		created := "-"
		if r.Created != nil {
			created = humanTime(*r.Created, false)
		}
		t.row(r.Kind, r.Name, r.Status, humanRetention(r.RetentionHours), created, r.details())
	}
	return t.flush()
}

// streamsList lists video and data streams: eddy streams ls.
func (c *cli) streamsList(ctx context.Context, args []string) error {
	cmd := c.command("streams ls", "[--kind video|data|all] [--all]",
		`Lists video and data streams, each marked video or data, with status, retention and creation
time.`)
	kind := cmd.fs.String("kind", "all", "which streams: video, data or all")
	all := cmd.fs.Bool("all", false, "also list the event streams of video streams (NAME.events)")
	_, cl, err := cmd.parse(ctx, args, 0)
	if err != nil {
		return err
	}
	if *kind != "all" && *kind != kindVideo && *kind != kindData {
		return fmt.Errorf("streams ls: --kind must be video, data or all")
	}
	rows := []streamRow{} // [] in JSON when there is none
	var errs []error
	if *kind != kindData {
		vr, err := cl.listVideoStreams(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("video streams: %w", err))
		}
		rows = append(rows, vr...)
	}
	hidden := 0
	if *kind != kindVideo {
		dr, err := cl.listDataStreams(ctx, func(name string) bool {
			// The suffix is reserved: only event streams have it.
			if strings.HasSuffix(name, eventsSuffix) && !*all {
				hidden++
				return false
			}
			return true
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("data streams: %w", err))
		}
		rows = append(rows, dr...)
	}
	if err := cmd.output(rows, func(w io.Writer) error {
		if err := printStreams(w, rows); err != nil {
			return err
		}
		if hidden > 0 {
			fmt.Fprintf(w, "(%s NAME%s not shown; --all lists them)\n", plural(hidden, "event stream"), eventsSuffix)
		}
		return nil
	}); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// listVideoStreams pages through ListStreams (Kinesis Video).
func (cl *clients) listVideoStreams(ctx context.Context) ([]streamRow, error) {
	var rows []streamRow
	p := kinesisvideo.NewListStreamsPaginator(cl.kvs, &kinesisvideo.ListStreamsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return rows, cl.apiError(err)
		}
		for i := range page.StreamInfoList {
			rows = append(rows, videoRow(&page.StreamInfoList[i]))
		}
	}
	return rows, nil
}

// listDataStreams pages through ListStreams (Kinesis Data Streams) and
// describes each stream keep accepts (shards and retention are not in
// the list).
func (cl *clients) listDataStreams(ctx context.Context, keep func(string) bool) ([]streamRow, error) {
	var rows []streamRow
	p := kinesis.NewListStreamsPaginator(cl.kds, &kinesis.ListStreamsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return rows, cl.apiError(err)
		}
		for _, name := range page.StreamNames {
			if !keep(name) {
				continue
			}
			r, err := cl.describeData(ctx, name)
			if err != nil {
				return rows, err
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func (cl *clients) describeData(ctx context.Context, name string) (streamRow, error) {
	out, err := cl.kds.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		return streamRow{}, cl.apiError(err)
	}
	kind := kindData
	if strings.HasSuffix(name, eventsSuffix) {
		kind = kindEvents
	}
	return dataRow(out.StreamDescriptionSummary, kind), nil
}

func (cl *clients) describeVideo(ctx context.Context, name string) (*kvstypes.StreamInfo, error) {
	out, err := cl.kvs.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		return nil, cl.apiError(err)
	}
	return out.StreamInfo, nil
}

// describeAny finds a stream of either kind: video and data streams share
// one name space.
func (cl *clients) describeAny(ctx context.Context, name string) (streamRow, error) {
	if !strings.HasSuffix(name, eventsSuffix) {
		s, err := cl.describeVideo(ctx, name)
		if err == nil {
			return videoRow(s), nil
		}
		if !errNotFound(err) {
			return streamRow{}, err
		}
	}
	return cl.describeData(ctx, name)
}

func errNotFound(err error) bool {
	var he *httpError
	return errors.As(err, &he) && he.Type == "ResourceNotFoundException"
}

// streamsCreate creates a video stream (its event stream comes with it)
// or a data stream: eddy streams create.
func (c *cli) streamsCreate(ctx context.Context, args []string) error {
	cmd := c.command("streams create", "NAME [--kind video|data] [--retention 24h] [--shards N | --on-demand]",
		`Creates a video stream (the default; its event stream NAME.events comes with it) or a data
stream.`)
	kind := cmd.fs.String("kind", kindVideo, "video (a Kinesis Video stream) or data (a Kinesis data stream)")
	retention := cmd.fs.String("retention", "24h", "how long data is kept (whole hours: 24h, 30d, 10y; video 0: live only)")
	shards := cmd.fs.Int("shards", 1, "data streams: shard count")
	onDemand := cmd.fs.Bool("on-demand", false, "data streams: ON_DEMAND capacity mode")
	pos, cl, err := cmd.parse(ctx, args, 1)
	if err != nil {
		return err
	}
	hours, err := parseRetention(*retention)
	if err != nil {
		return err
	}
	name := pos[0]
	switch *kind {
	case kindVideo:
		_, err = cl.kvs.CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(int32(hours))})
	case kindData:
		err = cl.createData(ctx, name, int32(*shards), *onDemand, hours)
	default:
		return fmt.Errorf("streams create: --kind must be video or data")
	}
	if err != nil {
		return cl.apiError(err)
	}
	row, err := cl.describeAny(ctx, name)
	if err != nil {
		return err
	}
	return cmd.output(row, func(w io.Writer) error {
		fmt.Fprintf(w, "created %s stream %s (retention %s; %s)\n", row.Kind, row.Name, humanRetention(row.RetentionHours), row.details())
		return nil
	})
}

// createData creates a data stream, then sets its retention (CreateStream
// has none) once it is ACTIVE.
func (cl *clients) createData(ctx context.Context, name string, shards int32, onDemand bool, hours int64) error {
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}
	if onDemand {
		in.StreamModeDetails = &kdstypes.StreamModeDetails{StreamMode: kdstypes.StreamModeOnDemand}
	}
	if _, err := cl.kds.CreateStream(ctx, in); err != nil {
		return err
	}
	if hours == 24 {
		return nil
	}
	w := kinesis.NewStreamExistsWaiter(cl.kds, func(o *kinesis.StreamExistsWaiterOptions) { o.MinDelay = time.Second })
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 5*time.Minute); err != nil {
		return err
	}
	return cl.setDataRetention(ctx, name, 24, hours)
}

// parseRetention reads a retention of whole hours ("24h", "30d", "10y",
// "0").
func parseRetention(s string) (int64, error) {
	d, err := server.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	if time.Duration(d)%time.Hour != 0 {
		return 0, fmt.Errorf("retention %q: want whole hours", s)
	}
	return int64(time.Duration(d) / time.Hour), nil
}

// streamsRemove deletes a stream of either kind: eddy streams rm.
func (c *cli) streamsRemove(ctx context.Context, args []string) error {
	cmd := c.command("streams rm", "NAME",
		`Deletes a stream of either kind (a video stream with its event stream).`)
	pos, cl, err := cmd.parse(ctx, args, 1)
	if err != nil {
		return err
	}
	row, err := cl.describeAny(ctx, pos[0])
	if err != nil {
		return err
	}
	switch row.Kind {
	case kindVideo:
		_, err = cl.kvs.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String(row.ARN), CurrentVersion: aws.String(row.Version)})
	default:
		_, err = cl.kds.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(row.Name)})
	}
	if err != nil {
		return cl.apiError(err)
	}
	out := struct {
		Kind    string `json:"kind"`
		Name    string `json:"name"`
		Deleted bool   `json:"deleted"`
	}{row.Kind, row.Name, true}
	return cmd.output(out, func(w io.Writer) error {
		if row.Kind == kindVideo {
			fmt.Fprintf(w, "deleted video stream %s and its event stream %s%s\n", row.Name, row.Name, eventsSuffix)
		} else {
			fmt.Fprintf(w, "deleted data stream %s\n", row.Name)
		}
		return nil
	})
}

// streamsRetention shows or changes a stream's retention: eddy streams
// retention NAME [NEW].
func (c *cli) streamsRetention(ctx context.Context, args []string) error {
	cmd := c.command("streams retention", "NAME [NEW]",
		`Shows a stream's retention, or sets it to NEW (whole hours: 720h, 30d, 10y; a video stream's 0:
live only).`)
	pos, err := parseArgs(cmd.fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 && len(pos) != 2 {
		return usage.Errorf("streams retention", "want NAME and optionally the new retention, got %d arguments", len(pos))
	}
	cl, err := cmd.connect(ctx)
	if err != nil {
		return err
	}
	row, err := cl.describeAny(ctx, pos[0])
	if err != nil {
		return err
	}
	out := struct {
		Kind                   string `json:"kind"`
		Name                   string `json:"name"`
		RetentionHours         int64  `json:"retentionHours"`
		PreviousRetentionHours *int64 `json:"previousRetentionHours,omitempty"`
	}{row.Kind, row.Name, row.RetentionHours, nil}
	if len(pos) == 2 {
		hours, err := parseRetention(pos[1])
		if err != nil {
			return err
		}
		if err := cl.setRetention(ctx, row, hours); err != nil {
			return err
		}
		prev := row.RetentionHours
		out.PreviousRetentionHours, out.RetentionHours = &prev, hours
	}
	return cmd.output(out, func(w io.Writer) error {
		if out.PreviousRetentionHours != nil {
			fmt.Fprintf(w, "%s: retention %s → %s\n", row.Name, humanRetention(*out.PreviousRetentionHours), humanRetention(out.RetentionHours))
		} else {
			fmt.Fprintf(w, "%s: retention %s (%d h)\n", row.Name, humanRetention(out.RetentionHours), out.RetentionHours)
		}
		return nil
	})
}

// setRetention changes a stream's retention to hours: UpdateDataRetention
// (by the difference) for a video stream, Increase/Decrease-
// StreamRetentionPeriod for a data stream.
func (cl *clients) setRetention(ctx context.Context, row streamRow, hours int64) error {
	if row.Kind != kindVideo {
		return cl.apiError(cl.setDataRetention(ctx, row.Name, row.RetentionHours, hours))
	}
	if hours == row.RetentionHours {
		return nil
	}
	op, diff := kvstypes.UpdateDataRetentionOperationIncreaseDataRetention, hours-row.RetentionHours
	if diff < 0 {
		op, diff = kvstypes.UpdateDataRetentionOperationDecreaseDataRetention, -diff
	}
	_, err := cl.kvs.UpdateDataRetention(ctx, &kinesisvideo.UpdateDataRetentionInput{StreamARN: aws.String(row.ARN),
		CurrentVersion: aws.String(row.Version), Operation: op, DataRetentionChangeInHours: aws.Int32(int32(diff))})
	return cl.apiError(err)
}

func (cl *clients) setDataRetention(ctx context.Context, name string, from, to int64) error {
	var err error
	switch {
	case to > from:
		_, err = cl.kds.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String(name), RetentionPeriodHours: aws.Int32(int32(to))})
	case to < from:
		_, err = cl.kds.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String(name), RetentionPeriodHours: aws.Int32(int32(to))})
	}
	return err
}
