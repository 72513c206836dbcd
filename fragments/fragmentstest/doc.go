// Package fragmentstest holds the test helpers of the fragments layer, one
// copy each: a synthetic H.264+AAC publication, a fragmenter run that
// collects its output, a core and manager over a temporary directory, and
// synthetic stored fragments.
//
// It may import every package of the fragments folder; only tests import it.
package fragmentstest
