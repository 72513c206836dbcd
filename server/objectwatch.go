package server

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams/objstore"
)

// watchedBucket is the server's object store, remembering whether its
// last request got an answer (uploads, listings and deletes as well as
// cold reads): the status page's "available". A missing object or a
// conditional PUT that found one is an answer; a cancelled request
// tells nothing.
type watchedBucket struct {
	objstore.Bucket
	failing atomic.Bool
}

func (b *watchedBucket) note(ctx context.Context, err error) {
	switch {
	case err == nil, errors.Is(err, objstore.ErrNotFound), errors.Is(err, objstore.ErrExists),
		errors.Is(err, objstore.ErrPastEnd), errors.Is(err, objstore.ErrConflict):
		b.failing.Store(false)
	case ctx.Err() != nil:
	default:
		b.failing.Store(true)
	}
}

// available reports whether the last request got an answer (true before
// any).
func (b *watchedBucket) available() bool { return !b.failing.Load() }

// registerAvailable registers eddy_object_available: whether the last
// request to the store, an upload, a delete or a cold read, got an
// answer. (The cache's eddy_object_cold_reads_available follows its
// breaker, which only cold reads move.)
func (b *watchedBucket) registerAvailable(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "eddy_object_available",
		Help: "1 while the object store answers (the last upload, delete, listing or cold read got an answer), else 0."},
		func() float64 {
			if b.available() {
				return 1
			}
			return 0
		}))
}

func (b *watchedBucket) PutIfAbsent(ctx context.Context, key string, body io.ReaderAt, size int64, meta map[string]string) error {
	err := b.Bucket.PutIfAbsent(ctx, key, body, size, meta)
	b.note(ctx, err)
	return err
}

func (b *watchedBucket) Put(ctx context.Context, key string, data []byte) error {
	err := b.Bucket.Put(ctx, key, data)
	b.note(ctx, err)
	return err
}

func (b *watchedBucket) Get(ctx context.Context, key string) ([]byte, error) {
	data, err := b.Bucket.Get(ctx, key)
	b.note(ctx, err)
	return data, err
}

func (b *watchedBucket) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	data, err := b.Bucket.GetRange(ctx, key, off, n)
	b.note(ctx, err)
	return data, err
}

func (b *watchedBucket) Head(ctx context.Context, key string) (objstore.Object, error) {
	o, err := b.Bucket.Head(ctx, key)
	b.note(ctx, err)
	return o, err
}

func (b *watchedBucket) List(ctx context.Context, prefix, startAfter string, max int) ([]objstore.Object, bool, error) {
	objs, more, err := b.Bucket.List(ctx, prefix, startAfter, max)
	b.note(ctx, err)
	return objs, more, err
}

func (b *watchedBucket) Delete(ctx context.Context, keys []string) error {
	err := b.Bucket.Delete(ctx, keys)
	b.note(ctx, err)
	return err
}

func (b *watchedBucket) AbortUploads(ctx context.Context, prefix string) error {
	err := b.Bucket.AbortUploads(ctx, prefix)
	b.note(ctx, err)
	return err
}
