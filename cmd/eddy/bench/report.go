package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// benchReport is what every bench prints.
type benchReport interface{ writeText(io.Writer) }

// printReport writes a bench's results as text on stdout, then as JSON
// when asked, and passes the run's error on.
func printReport(res benchReport, jsonOut bool, runErr error) error {
	res.writeText(os.Stdout)
	if jsonOut {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		fmt.Printf("%s\n", b)
	}
	return runErr
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func fmtOpt(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

// table writes the rows of a text report: a key and a value in columns
// keyW and valW wide, then the target when there is one.
type table struct {
	w          io.Writer
	keyW, valW int
}

func (t table) row(k, v, target string) {
	if target != "" {
		fmt.Fprintf(t.w, "  %-*s %-*s %s\n", t.keyW, k, t.valW, v, target)
	} else {
		fmt.Fprintf(t.w, "  %-*s %s\n", t.keyW, k, v)
	}
}

// writeProblems lists problems, the first limit of them (0: all).
func writeProblems(w io.Writer, problems []string, limit int) {
	for i, p := range problems {
		if i == limit && limit > 0 {
			fmt.Fprintf(w, "    … %d more (see --json)\n", len(problems)-i)
			break
		}
		fmt.Fprintf(w, "    - %s\n", p)
	}
}

// writeLogTail writes the end of the server's log, when the report has it.
func writeLogTail(w io.Writer, tail string) {
	if tail != "" {
		fmt.Fprintf(w, "\n  server log (last lines):\n%s\n", tail)
	}
}
