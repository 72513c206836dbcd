package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/server"
)

// The chores' output: aligned tables, sizes and times for people by
// default; --json for scripts (times RFC 3339, sizes in bytes, durations
// in milliseconds, as the Kinesis APIs carry them).

// table writes aligned columns (and no spaces at the ends of lines).
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

// newTable starts a table with a header row, if any.
func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	for _, l := range strings.SplitAfter(t.buf.String(), "\n") {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(t.w, strings.TrimRight(l, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// humanBytes is n in binary units: "512 B", "65.8 KiB", "1.2 GiB".
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

// humanDuration is d for people: "850 ms", "2.0 s", "12 min", "3.5 h",
// "4 d".
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	default:
		return fmt.Sprintf("%d d", int(d.Hours()/24))
	}
}

// humanRetention is a retention in hours: "live only", "24 h", "30 d",
// "10 y".
func humanRetention(hours int64) string {
	switch {
	case hours == 0:
		return "live only"
	case hours%(365*24) == 0:
		return fmt.Sprintf("%d y", hours/(365*24))
	case hours%24 == 0 && hours > 24:
		return fmt.Sprintf("%d d", hours/24)
	default:
		return fmt.Sprintf("%d h", hours)
	}
}

// plural is "1 gap", "2 gaps".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// humanTime is t in the local zone, to the second or the millisecond.
func humanTime(t time.Time, millis bool) string {
	if t.IsZero() {
		return "-"
	}
	if millis {
		return t.Local().Format("2006-01-02 15:04:05.000")
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// parseWhen reads a point in time: "now"; an age ("90s", "15m", "1h",
// "2d": that long before now); RFC 3339 ("2026-11-22T10:00:00Z"); or a
// local date and time ("2026-11-22 10:00", "2026-11-22T10:00:05").
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := server.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && s != "" {
		return now.Add(-time.Duration(d)), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use an age (15m, 1h, 2d), RFC 3339 (2026-11-22T10:00:00Z) or a local time (2026-11-22 10:00)", s)
}

// parseArgs parses flags and positional arguments in any order (eddy
// clip STREAM --from 1h): Go's flag package stops at the first
// positional argument, so parsing resumes after each. Everything after
// "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		rest := args
		if err := usage.Parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if n := len(rest) - len(args); n > 0 && rest[n-1] == "--" {
			return append(pos, args...), nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}
