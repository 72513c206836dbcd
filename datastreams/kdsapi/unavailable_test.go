package kdsapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// TestErrorCodeUnavailable: GetRecords and SubscribeToShard reads of
// records kept only in the unreachable object store answer 500
// InternalFailureException (SDKs retry it) with a message naming object
// storage; a kind the core set keeps its own answer.
func TestErrorCodeUnavailable(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("shard shardId-000000000000: read 00000000000000000001.seg: %w", logstore.ErrUnavailable)
	code, status, msg := ErrorCode(err)
	if code != "InternalFailureException" || status != http.StatusInternalServerError {
		t.Errorf("ErrorCode = %s %d, want InternalFailureException 500", code, status)
	}
	if !strings.Contains(msg, "object storage") || !strings.Contains(msg, "retry later") {
		t.Errorf("message %q does not name object storage and retrying", msg)
	}
	code, _, msg = ErrorCode(errors.New("a plain fault"))
	if code != "InternalFailureException" || msg != "Internal service failure." {
		t.Errorf("a plain fault: %s %q", code, msg)
	}
	code, status, _ = ErrorCode(&datastreams.Error{Kind: datastreams.KindExpiredIterator, Message: "old"})
	if code != "ExpiredIteratorException" || status != http.StatusBadRequest {
		t.Errorf("a core kind: %s %d", code, status)
	}
}
