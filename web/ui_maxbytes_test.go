package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// TestStreamListMaxBytes: the list's maxBytes is the cap the store
// enforces: the eddy:max-bytes tag (set at creation, changed, removed), a
// pull source's retention_bytes, or 0.
func TestStreamListMaxBytes(t *testing.T) {
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 1<<20)
	for name, o := range map[string]fragments.CreateOptions{
		"tagged": {RetentionHours: 1, Tags: map[string]string{fragments.MaxBytesTag: "2097152"}},
		"pulled": {RetentionHours: 1, RetentionBytes: 3 << 20},
		"free":   {RetentionHours: 1},
		"retag":  {RetentionHours: 1, Tags: map[string]string{fragments.MaxBytesTag: "5242880"}},
	} {
		if _, err := m.CreateStream(name, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.CreateStream("tiny", fragments.CreateOptions{RetentionHours: 1, Tags: map[string]string{fragments.MaxBytesTag: "1000"}}); err == nil {
		t.Error("a cap under 1 MiB was accepted")
	}
	if err := m.Untag("retag", []string{fragments.MaxBytesTag}); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	(&Handler{Manager: m}).Mount(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/streams")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var rows []struct {
		Name     string
		MaxBytes int64
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &rows) != nil {
		t.Fatalf("streams: %d %s", resp.StatusCode, b)
	}
	want := map[string]int64{"tagged": 2 << 20, "pulled": 3 << 20, "free": 0, "retag": 0}
	for _, row := range rows {
		if w, ok := want[row.Name]; !ok || row.MaxBytes != w || row.MaxBytes != m.MaxBytes(row.Name) {
			t.Errorf("%s: maxBytes %d, want %d (the manager enforces %d)", row.Name, row.MaxBytes, w, m.MaxBytes(row.Name))
		}
		delete(want, row.Name)
	}
	if len(want) != 0 {
		t.Errorf("streams missing from the list: %v", want)
	}
}
