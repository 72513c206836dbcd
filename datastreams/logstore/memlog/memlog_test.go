package memlog

import (
	"testing"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/logstoretest"
)

// TestMemLog runs the logstore conformance suite against the memory log.
// It has no storage units and keeps nothing past Close.
func TestMemLog(t *testing.T) {
	logstoretest.Run(t, logstoretest.Harness{
		Open: func(t *testing.T, _ logstoretest.Options) logstore.Log {
			l := New()
			t.Cleanup(func() { l.Close() })
			return l
		},
	})
}
