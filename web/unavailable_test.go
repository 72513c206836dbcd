package web

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/eddy-video/eddy/datastreams/logstore"
)

// TestWriteErrorUnavailable: the UI API's errors (thumbnails among them)
// answer a read of cold media while the object store is out of reach 503
// with Retry-After and a reason, not a 500.
func TestWriteErrorUnavailable(t *testing.T) {
	t.Parallel()
	h := &Handler{Logger: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	h.writeError(rec, fmt.Errorf("images: media error: fragment 1: %w", logstore.ErrUnavailable))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" {
		t.Fatalf("status %d, Retry-After %q; want 503 and 5", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body struct {
		Error apiError `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Error.Message, "object storage") {
		t.Errorf("message %q does not name object storage", body.Error.Message)
	}
	rec = httptest.NewRecorder()
	h.writeError(rec, badRequest("no"))
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Retry-After") != "" {
		t.Errorf("a bad request: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}
