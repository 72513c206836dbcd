//go:build race

package fragments

// raceEnabled: the race detector randomizes the scheduler's run order.
const raceEnabled = true
