package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

func bench(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "ingest":
			return benchIngest(args[1:])
		case "hls":
			return benchHLS(args[1:])
		case "kds":
			return benchKDS(args[1:])
		case "webrtc":
			return benchWebRTC(args[1:])
		}
	}
	return fmt.Errorf("usage: eddy bench kds|ingest|hls|webrtc [flags]")
}

// startCPUProfile profiles the bench process into path ("" does nothing);
// call the returned function when done.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

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
