// Package tier moves sealed log segments to an S3-compatible bucket and
// reads them back: the object-storage tier under filelog (it implements
// filelog.Cold).
//
// Bucket layout (keys under the configured prefix) mirrors the data
// directory: a log kept in <data>/<rel> has its sealed segments at
// <rel>/<base>.seg and their sparse indexes at <rel>/<base>.idx; every
// other file of a stream directory (stream.json, init segments, the
// fragment index, ...) but those Config.MirrorSkip names is mirrored at
// its path, and <data>/FORMAT at FORMAT. Restore builds a data directory
// from that alone.
//
// It knows logs, segments and files, never video or the Kinesis APIs.
package tier

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/tier/blockcache"
)

// Config configures a Tier. Zero values take the defaults.
type Config struct {
	Bucket objstore.Bucket
	Cache  *blockcache.Cache // reads of cold segments (keys as Bucket's)
	Root   string            // the data directory; keys are paths under it
	// Hot is how long a segment stays on local disk once uploaded,
	// counted from its newest record (0: deleted locally as soon as the
	// upload is verified).
	Hot time.Duration
	// HotOf, when set, overrides Hot for the log in dir (the server reads
	// the stream's eddy:hot tag); ok false: Hot applies.
	HotOf func(logDir string) (hot time.Duration, ok bool)
	// QueueBytes bounds the sealed bytes waiting for upload across all
	// logs (0: only the disk bounds them); past it the oldest waiting
	// segment is discarded and counted as lost.
	QueueBytes int64
	// Uploads is how many segments upload at once (default 4).
	Uploads int
	// Interval is how often logs are looked at for sealed segments and
	// hot segments past their time (default 1 s); MirrorInterval how often
	// the stream directories' other files are mirrored (default 1 min;
	// a stream's files are also mirrored after each upload of its segments).
	Interval       time.Duration
	MirrorInterval time.Duration
	// MirrorSkip names directories (base names) inside stream directories
	// that are not mirrored (derived data the server rebuilds).
	MirrorSkip []string
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer // eddy_object_* series
}

// Tier is the object-storage tier of one data directory.
type Tier struct{}

var _ filelog.Cold = (*Tier)(nil)

// New returns a tier; Start begins its work.
func New(cfg Config) (*Tier, error) { panic("tier: New not built yet") }

// Start reconciles with the bucket (aborts unfinished multipart uploads,
// finishes journaled stream deletions, deletes objects of trimmed
// segments) and starts uploading, mirroring and deleting in the background.
func (t *Tier) Start(ctx context.Context) error { panic("tier: Start not built yet") }

// Close stops the background work (uploads in flight are abandoned; the
// next start redoes them).
func (t *Tier) Close() error { panic("tier: Close not built yet") }

// Attach implements filelog.Cold.
func (t *Tier) Attach(l *filelog.Log) { panic("tier: Attach not built yet") }

// Detach implements filelog.Cold.
func (t *Tier) Detach(l *filelog.Log) { panic("tier: Detach not built yet") }

// OpenSegment implements filelog.Cold.
func (t *Tier) OpenSegment(l *filelog.Log, base uint64, size int64) (io.ReaderAt, error) {
	panic("tier: OpenSegment not built yet")
}

// Trimmed implements filelog.Cold.
func (t *Tier) Trimmed(l *filelog.Log, segs []filelog.SegmentInfo) {
	panic("tier: Trimmed not built yet")
}

// DeletingDir journals that a stream directory is about to be deleted
// (the core's BeforeDeleteDir); an error fails the delete.
func (t *Tier) DeletingDir(dir string) error { panic("tier: DeletingDir not built yet") }

// DeletedDir is told whether the deletion happened (the core's
// AfterDeleteDir); if it did, the directory's objects are deleted in the
// background (and after a crash, at the next Start).
func (t *Tier) DeletedDir(dir string, deleted bool) { panic("tier: DeletedDir not built yet") }

// Usage is how much of a stream directory's logs is on local disk and
// how much is in the bucket.
type Usage struct {
	LocalBytes    int64 // segment bytes on local disk
	BucketBytes   int64 // uploaded segment bytes (hot or cold)
	PendingBytes  int64 // sealed bytes waiting for upload
	ColdSegments  int   // segments only in the bucket
	OldestPending time.Time
}

// Usage returns the usage of the logs under a stream directory.
func (t *Tier) Usage(streamDir string) Usage { panic("tier: Usage not built yet") }

// Flush uploads every sealed segment and mirrors every stream directory
// now, and applies the hot policy; it returns the first error.
func (t *Tier) Flush(ctx context.Context) error { panic("tier: Flush not built yet") }

// RestoreSummary is what Restore brought back.
type RestoreSummary struct {
	Streams, Segments, Files int
	Bytes                    int64 // of the files downloaded (segments stay in the bucket)
}

// Restore builds the data directory dir (which must be empty or absent)
// from the bucket alone: the mirrored files, each log's sparse indexes
// and upload records; segments stay in the bucket and are read cold.
func Restore(ctx context.Context, b objstore.Bucket, dir string, log *slog.Logger) (RestoreSummary, error) {
	panic("tier: Restore not built yet")
}
