// Package datastreams is the shard core, modeled on Amazon Kinesis Data
// Streams: a Core keeps streams under one data directory, which it locks,
// versions and upgrades (datadir.go: FORMAT, LOCK; the layout of stream
// directories and their atomic create and delete in stream_dir.go); a Stream has
// metadata (stream.json) and shards that split the 128-bit hash key space;
// a Shard is one durable log with one group-commit writer.
//
// It owns the Kinesis model above the storage: routing records by MD5 of
// their partition key (hashkey.go), wire sequence numbers (seqnum.go),
// shard iterators and paging tokens (tokens.go), per-shard throughput
// limits of PROVISIONED streams (throttle.go), retention by age and size
// (the janitor in core.go) and by free space (the floor in floor.go: the
// oldest segments across all streams go first when the disk runs low; a
// write that finds the disk full fails with an error that says so, and
// the next succeeds once space returns), resharding with lineage (reshard.go), consumer
// registration (consumers.go), and the errors the API edges translate,
// classified by Kind (errors.go). Put routes and throttles; Shard.Append
// is the store-level write for layers that address a shard themselves.
//
// It must not know the wire protocol (datastreams/kdsapi serves it), how a
// log stores its records (logstore.Log; datastreams/logstore/filelog by
// default, any other through Core.OpenLog), nor anything of video: the
// logs of video streams are streams of their own Kind whose extension
// metadata (Ext) the core keeps verbatim. It imports nothing of Eddy's
// outside the datastreams folder.
package datastreams
