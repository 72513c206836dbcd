package kdsapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eddy-video/eddy/datastreams"
)

// call runs one operation against api and decodes the error body, if any.
func call(t *testing.T, api *API, op string, in any) (int, errorBody) {
	t.Helper()
	body, _ := json.Marshal(in)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Set("Content-Type", contentTypeJSON)
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	var eb errorBody
	if w.Code != http.StatusOK {
		_ = json.Unmarshal(w.Body.Bytes(), &eb)
	}
	return w.Code, eb
}

// TestReservedName checks the hook that keeps names for other layers.
func TestReservedName(t *testing.T) {
	c := &datastreams.Core{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	api := &API{Core: c, Logger: c.Logger}
	if code, eb := call(t, api, "CreateStream", map[string]any{"StreamName": "free.events", "ShardCount": 1}); code != http.StatusOK {
		t.Fatalf("without a hook: %d %+v", code, eb)
	}
	api.ReservedSuffix = ".events"
	code, eb := call(t, api, "CreateStream", map[string]any{"StreamName": "cam.events", "ShardCount": 1})
	want := `Stream name cam.events ends in ".events", which is reserved for the event streams of video streams.`
	if code != http.StatusBadRequest || eb.Type != "InvalidArgumentException" || eb.Message != want {
		t.Fatalf("reserved name: %d %+v, want InvalidArgumentException %q", code, eb, want)
	}
	if code, eb := call(t, api, "CreateStream", map[string]any{"StreamName": "cam", "ShardCount": 1}); code != http.StatusOK {
		t.Fatalf("free name: %d %+v", code, eb)
	}
}
