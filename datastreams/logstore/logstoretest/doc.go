// Package logstoretest is the one conformance suite of logstore.Log: Run
// checks what the interface promises (append, commit and read, reads see
// only committed records, bounds, seek by time, arrival times, trim by age
// and by size, concurrent readers with a writer and a trimmer, close)
// against any implementation, as filelog and memlog run it in their tests.
// It also holds the helpers those tests share (a settable clock, records
// that name themselves).
//
// It knows only the logstore interface: no implementation's files or
// internals, no streams, shards or Kinesis API.
package logstoretest
