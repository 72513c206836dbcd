// Package servertest starts a real Eddy server on an OS-chosen loopback
// port for end-to-end tests, and builds AWS SDK clients pointed at it.
//
// It is the server layer's test helper; only tests import it.
package servertest
