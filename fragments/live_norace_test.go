//go:build !race

package fragments

const raceEnabled = false
