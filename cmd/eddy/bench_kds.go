package main

import "fmt"

func benchKDS(args []string) error { return fmt.Errorf("not yet built") }
