package kvsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/fragments"
)

// TestWriteErrorUnavailable: a read that needed the unreachable object
// store (logstore.ErrUnavailable, however deeply wrapped) is answered 503
// ClientLimitExceededException with Retry-After and a message naming
// object storage — not a 500, and never "not found"; other errors keep
// their status.
func TestWriteErrorUnavailable(t *testing.T) {
	t.Parallel()
	cold := fmt.Errorf("fragment 91343852333181432392682062607743920146: read segment 00000000000000000001: %w",
		fmt.Errorf("blockcache: GET streams/x/00000000000000000001.seg: connection refused: %w", logstore.ErrUnavailable))
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		message    string
	}{
		{"unavailable", cold, http.StatusServiceUnavailable, CodeClientLimit, "5", "object storage"},
		{"unavailable and not found", errors.Join(fragments.ErrFragmentNotFound, logstore.ErrUnavailable), http.StatusServiceUnavailable, CodeClientLimit, "5", "retry later"},
		{"internal", errors.New("disk on fire"), http.StatusInternalServerError, CodeInternal, "", "disk on fire"},
		{"not found", Errorf(CodeNotFound, "gone"), http.StatusNotFound, CodeNotFound, "", "gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			WriteError(rec, tc.err)
			if rec.Code != tc.status {
				t.Errorf("status %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Header().Get("x-amzn-ErrorType"); got != tc.code {
				t.Errorf("x-amzn-ErrorType %q, want %q", got, tc.code)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			var body struct{ Type, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body.Message == "" || !strings.Contains(body.Message, tc.message) {
				t.Errorf("message %q does not say %q", body.Message, tc.message)
			}
		})
	}
	if !IsUnavailable(cold) || IsUnavailable(errors.New("x")) {
		t.Error("IsUnavailable does not see through the wrapping")
	}
	if got := AsError(cold); got.Code != CodeClientLimit || got.Message != UnavailableMessage {
		t.Errorf("AsError = %+v", got)
	}
}
