// Package logstore is the durable-log interface under the shard core: Log
// (append, commit, read at a sequence, seek by time, trim, close), its
// Record and ErrClosed. Implementations live in subpackages (filelog on
// local disk, memlog in memory) and all pass logstoretest.Run.
//
// It knows records and their positions and arrival times, never streams,
// shards, partition keys, hash ranges or the Kinesis API; it imports
// nothing of Eddy's.
package logstore
