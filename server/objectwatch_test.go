package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/eddy-video/eddy/datastreams/objstore"
)

// answerBucket answers every Head with err (the other methods are not
// called here).
type answerBucket struct {
	objstore.Bucket
	err error
}

func (b *answerBucket) Head(context.Context, string) (objstore.Object, error) {
	return objstore.Object{}, b.err
}

// TestWatchedBucket: the status page's "available" follows the last
// request: a failure makes it false, an answer (even "no such object" or
// "exists") true again, and a request the caller cancelled changes
// nothing.
func TestWatchedBucket(t *testing.T) {
	t.Parallel()
	fake := &answerBucket{}
	b := &watchedBucket{Bucket: fake}
	ctx := context.Background()
	head := func(err error, c context.Context) bool {
		fake.err = err
		_, got := b.Head(c, "k")
		if !errors.Is(got, err) && got != err {
			t.Fatalf("Head returned %v, want %v", got, err)
		}
		return b.available()
	}
	if !b.available() {
		t.Fatal("unavailable before any request")
	}
	if head(fmt.Errorf("dial tcp: connection refused"), ctx) {
		t.Error("available after a failed request")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if head(context.Canceled, cancelled) {
		t.Error("a cancelled request made it available")
	}
	if !head(fmt.Errorf("head k: %w", objstore.ErrNotFound), ctx) {
		t.Error("unavailable after the store answered 404")
	}
	if head(errors.New("403 access denied"), ctx) || !head(nil, ctx) {
		t.Error("not following the last request")
	}
	if !head(fmt.Errorf("put: %w", objstore.ErrExists), ctx) {
		t.Error("unavailable after a 412")
	}
}
