// Package datastreamstest holds the test helpers of the datastreams layer
// that every layer above shares: the one fake clock of the project
// (servertest.Clock is this type), the small tmpfs that full-disk
// tests mount and fill (Tmpfs, Fill), and SyncBuffer, the output of a
// logger or child process a test reads while it runs.
//
// It is a leaf: it imports nothing of Eddy's, so any package's tests
// (including the core's own and the log suite's) can use it without an
// import cycle. It must not grow helpers that need the core; those belong
// next to the tests that use them.
package datastreamstest
