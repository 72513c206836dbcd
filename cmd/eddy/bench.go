package main

import "fmt"

func bench(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "ingest":
			return benchIngest(args[1:])
		case "hls":
			return benchHLS(args[1:])
		case "kds":
			return benchKDS(args[1:])
		}
	}
	return fmt.Errorf("usage: eddy bench kds|ingest|hls [flags]")
}
