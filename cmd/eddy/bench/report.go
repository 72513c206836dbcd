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
