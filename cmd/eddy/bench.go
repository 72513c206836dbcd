package main

import "fmt"

func bench(args []string) error {
	if len(args) > 0 && args[0] == "ingest" {
		return benchIngest(args[1:])
	}
	if len(args) == 0 || args[0] != "kds" {
		return fmt.Errorf("usage: eddy bench kds|ingest [flags]")
	}
	return benchKDS(args[1:])
}
