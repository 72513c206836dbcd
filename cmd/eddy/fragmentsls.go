package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
)

// gapThreshold is how far apart two fragments may be before `fragments
// ls` calls the space between them a gap (the HLS discontinuity rule).
const gapThreshold = 50 * time.Millisecond

// fragmentRow is one fragment as `fragments ls` prints it.
type fragmentRow struct {
	Number     string    `json:"fragmentNumber"`
	Producer   time.Time `json:"producerTimestamp"`
	Server     time.Time `json:"serverTimestamp"`
	DurationMS int64     `json:"durationMs"`
	Size       int64     `json:"sizeBytes"`
}

// timeRange is the --since/--until (or --from/--to) of a command, and
// which clock it selects by.
type timeRange struct {
	from, to   string
	timestamps string
}

func (tr *timeRange) selector() (amtypes.FragmentSelectorType, error) {
	switch tr.timestamps {
	case "producer":
		return amtypes.FragmentSelectorTypeProducerTimestamp, nil
	case "server":
		return amtypes.FragmentSelectorTypeServerTimestamp, nil
	}
	return "", fmt.Errorf("--timestamps must be producer or server")
}

// resolve returns the range's two ends as times.
func (tr *timeRange) resolve(now time.Time) (time.Time, time.Time, error) {
	from, err := parseWhen(tr.from, now)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	to, err := parseWhen(tr.to, now)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	if to.Before(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("the range ends (%s) before it starts (%s)", humanTime(to, true), humanTime(from, true))
	}
	return from, to, nil
}

// fragmentsList lists a video stream's fragments in a time range: eddy
// fragments ls.
func (c *cli) fragmentsList(ctx context.Context, args []string) error {
	cmd := c.command("fragments ls", "STREAM [--since 1h] [--until now] [--timestamps producer|server] [--max N]",
		`Lists a video stream's fragments in a time range (ListFragments): their numbers, times, durations
and sizes, the gaps between them, and a summary.`)
	var tr timeRange
	cmd.fs.StringVar(&tr.from, "since", "1h", "start of the range: an age (15m, 1h, 2d), RFC 3339, or a local time (2026-11-22 10:00)")
	cmd.fs.StringVar(&tr.to, "until", "now", "end of the range (same forms)")
	cmd.fs.StringVar(&tr.timestamps, "timestamps", "producer", "select by producer (camera) or server (arrival) time")
	limit := cmd.fs.Int("max", 10000, "list at most this many fragments")
	pos, cl, err := cmd.parse(ctx, args, 1)
	if err != nil {
		return err
	}
	sel, err := tr.selector()
	if err != nil {
		return err
	}
	from, to, err := tr.resolve(c.now())
	if err != nil {
		return err
	}
	rows, more, err := cl.listFragments(ctx, pos[0], sel, from, to, *limit)
	if err != nil {
		return err
	}
	return cmd.output(rows, func(w io.Writer) error {
		return printFragments(w, rows, more, tr.timestamps == "server")
	})
}

// listFragments pages through ListFragments and sorts the fragments by
// the selected time (ListFragments does not promise an order); more says
// that limit cut the list.
func (cl *clients) listFragments(ctx context.Context, stream string, sel amtypes.FragmentSelectorType, from, to time.Time, limit int) ([]fragmentRow, bool, error) {
	in := &kinesisvideoarchivedmedia.ListFragmentsInput{StreamName: aws.String(stream), MaxResults: aws.Int64(1000),
		FragmentSelector: &amtypes.FragmentSelector{FragmentSelectorType: sel,
			TimestampRange: &amtypes.TimestampRange{StartTimestamp: aws.Time(from), EndTimestamp: aws.Time(to)}}}
	rows := []fragmentRow{} // [] in JSON when there is none
	p := kinesisvideoarchivedmedia.NewListFragmentsPaginator(cl.media, in)
	more := false
	for p.HasMorePages() {
		if len(rows) >= limit {
			more = true
			break
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, cl.apiError(err)
		}
		for _, f := range page.Fragments {
			rows = append(rows, fragmentRow{Number: aws.ToString(f.FragmentNumber), Producer: aws.ToTime(f.ProducerTimestamp),
				Server: aws.ToTime(f.ServerTimestamp), DurationMS: f.FragmentLengthInMilliseconds, Size: f.FragmentSizeInBytes})
		}
	}
	byServer := sel == amtypes.FragmentSelectorTypeServerTimestamp
	sort.SliceStable(rows, func(i, j int) bool {
		if byServer {
			return rows[i].Server.Before(rows[j].Server)
		}
		return rows[i].Producer.Before(rows[j].Producer)
	})
	if len(rows) > limit {
		rows, more = rows[:limit], true
	}
	return rows, more, nil
}

// printFragments writes the table, the gaps between fragments (on the
// selected clock), and a summary line.
func printFragments(w io.Writer, rows []fragmentRow, more, byServer bool) error {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no fragments in the range")
		return nil
	}
	at := func(r fragmentRow) time.Time {
		if byServer {
			return r.Server
		}
		return r.Producer
	}
	t := newTable(w, "FRAGMENT", "PRODUCER TIME", "SERVER TIME", "DURATION", "SIZE", "")
	var total time.Duration
	var bytes int64
	gaps := 0
	for i, r := range rows {
		note := ""
		if i > 0 {
			prev := rows[i-1]
			if gap := at(r).Sub(at(prev).Add(time.Duration(prev.DurationMS) * time.Millisecond)); gap > gapThreshold {
				note = "after a gap of " + humanDuration(gap)
				gaps++
			}
		}
		d := time.Duration(r.DurationMS) * time.Millisecond
		total += d
		bytes += r.Size
		t.row(r.Number, humanTime(r.Producer, true), humanTime(r.Server, true), humanDuration(d), humanBytes(r.Size), note)
	}
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s, %s recorded, %s, %s\n", plural(len(rows), "fragment"), humanDuration(total), humanBytes(bytes), plural(gaps, "gap"))
	if more {
		fmt.Fprintln(w, "(more fragments in the range: narrow it or raise --max)")
	}
	return nil
}
