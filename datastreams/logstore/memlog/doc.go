// Package memlog is an in-memory implementation of logstore.Log: records
// in a slice under one mutex, a committed end, and retention that trims
// record by record. Nothing survives Close or a restart; it serves tests
// and cores that need no durability, and shows the minimum a new storage
// tier implements (it passes the same logstoretest suite as filelog).
//
// It knows records, sequences and arrival times, never files, streams,
// shards, partition keys or the Kinesis API.
package memlog
