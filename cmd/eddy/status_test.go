package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/media/rtspclient"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestChoresStatus reads `eddy status` of a server with a camera
// publishing, for people and with --json; an identity not allowed
// eddy:admin sees what it may read and why the rest is missing; a server
// that is not there is named.
func TestChoresStatus(t *testing.T) {
	modes := choresModes(t)
	ce := modes[0].ce
	ce.ok(t, "streams", "create", "cam")
	ce.ok(t, "streams", "create", "detections", "--kind", "data")
	ctx, stop := context.WithCancel(servertest.Context(t, time.Minute))
	defer stop()
	pub := &rtspclient.FilePublisher{URL: ce.RTSPURL("cam"), File: filepath.Join("..", "..", "testdata", "cam-h264-aac.mp4"), Loop: true}
	done := make(chan struct{})
	go func() { _ = pub.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()

	var rep statusReport
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ce.okJSON(t, &rep, "status")
		if rep.Metrics["fragmentsPersisted"] > 0 || time.Now().After(deadline) {
			break
		}
	}
	if rep.Health != "ok" || len(rep.Listeners) == 0 || *rep.VideoStreams != 1 || *rep.DataStreams != 1 || len(rep.Errors) != 0 ||
		rep.Metrics["recording"] != 1 || rep.Metrics["rtspConnections"] != 1 || rep.Metrics["fragmentsPersisted"] < 1 || rep.Metrics["goroutines"] < 1 {
		t.Fatalf("status --json: %+v", rep)
	}
	out := ce.ok(t, "status")
	mustContain(t, "status", out, "Eddy at "+ce.URL+": ok (up ", "Streams   1 video, 1 recording now, 1 data",
		"Sessions  1 RTSP connection", "Ingest    ", " fragments persisted (", "Process   RSS ")

	signed := modes[1].ce.with("AWS_ACCESS_KEY_ID", "AKIDVIEW", "AWS_SECRET_ACCESS_KEY", "viewsecret1")
	out = signed.ok(t, "status")
	mustContain(t, "status as a viewer", out, "Streams  0 video; not readable: AccessDeniedException",
		"Metrics  not readable: AccessDeniedException", "(disk, sessions and ingest need an identity allowed eddy:admin)")
	rep = statusReport{}
	signed.okJSON(t, &rep, "status")
	if rep.Metrics != nil || !strings.HasPrefix(rep.Errors["metrics"], "AccessDeniedException") || rep.Errors["dataStreams"] == "" {
		t.Errorf("status --json as a viewer: %+v", rep)
	}
	ce.with("EDDY_ENDPOINT", "http://127.0.0.1:1").fails(t, "cannot reach Eddy at http://127.0.0.1:1", "status")
}

// TestStatusDisk words the disk metrics the server serves (the data
// directory's file system and its free-space floor), and their absence.
func TestStatusDisk(t *testing.T) {
	exposition := `# TYPE eddy_disk_free_bytes gauge
eddy_disk_free_bytes 1.073741824e+10
# TYPE eddy_disk_size_bytes gauge
eddy_disk_size_bytes 4.294967296e+10
# TYPE eddy_disk_min_free_bytes gauge
eddy_disk_min_free_bytes 2.147483648e+09
# TYPE eddy_disk_full_errors_total counter
eddy_disk_full_errors_total 3
`
	m, err := parseStatusMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := disk(m), "10.0 GiB free of 40.0 GiB (25%), retention keeps 2.0 GiB free, 3 writes failed on a full disk"; got != want {
		t.Errorf("disk: %q; want %q", got, want)
	}
	if got, want := sessions(m), "0 RTSP connections, ? WebRTC peer connections"; got != want {
		t.Errorf("sessions: %q; want %q", got, want)
	}
	if m["authFailures"] != 0 || m["rtspConnections"] != 0 {
		t.Errorf("absent labelled families: %v", m)
	}
	if _, ok := m["goroutines"]; ok {
		t.Errorf("an absent figure is reported: %v", m)
	}
	if got := disk(map[string]float64{}); got != "not reported by this server" {
		t.Errorf("disk without metrics: %q", got)
	}
}

// TestStatusSessions counts publishers and viewers per protocol where
// the server reports sessions by role.
func TestStatusSessions(t *testing.T) {
	exposition := `# TYPE eddy_rtsp_connections gauge
eddy_rtsp_connections{listener="rtsp"} 3
eddy_rtsp_connections{listener="rtsps"} 1
# TYPE eddy_webrtc_peer_connections gauge
eddy_webrtc_peer_connections 3
# TYPE eddy_rtsp_sessions gauge
eddy_rtsp_sessions{listener="rtsp",mode="publish",stream="cam-1"} 1
eddy_rtsp_sessions{listener="rtsp",mode="publish",stream="cam-2"} 1
eddy_rtsp_sessions{listener="rtsps",mode="play",stream="cam-1"} 1
# TYPE eddy_webrtc_sessions gauge
eddy_webrtc_sessions{kind="whep",stream="cam-1"} 2
eddy_webrtc_sessions{kind="whip",stream="door"} 1
# TYPE eddy_hls_sessions gauge
eddy_hls_sessions{stream="cam-1"} 1
`
	m, err := parseStatusMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	want := "4 RTSP connections (2 publishing, 1 playing), 3 WebRTC peer connections (1 publishing, 2 playing), 1 HLS session"
	if got := sessions(m); got != want {
		t.Errorf("sessions: %q; want %q", got, want)
	}
}

// TestStatusObjectStorage words the object-storage metrics, and leaves
// the row out for a server without object storage.
func TestStatusObjectStorage(t *testing.T) {
	exposition := `# TYPE eddy_object_pending_bytes gauge
eddy_object_pending_bytes 1.2e+07
# TYPE eddy_object_pending_segments gauge
eddy_object_pending_segments 2
# TYPE eddy_object_upload_lag_seconds gauge
eddy_object_upload_lag_seconds 95
# TYPE eddy_object_uploaded_bytes_total counter
eddy_object_uploaded_bytes_total 3.4e+09
# TYPE eddy_object_upload_failures_total counter
eddy_object_upload_failures_total 7
# TYPE eddy_object_lost_bytes_total counter
eddy_object_lost_bytes_total 0
# TYPE eddy_object_available gauge
eddy_object_available 0
# TYPE eddy_object_cache_hits_total counter
eddy_object_cache_hits_total 90
# TYPE eddy_object_cache_misses_total counter
eddy_object_cache_misses_total 10
`
	m, err := parseStatusMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	want := "11.4 MiB waiting for upload in 2 segments (the oldest for 1m35s), 3.2 GiB uploaded (7 failed attempts, retried), cold reads failing (the store does not answer), read cache 90% hits"
	if got := objectStorage(m); got != want {
		t.Errorf("object storage:\n got %q\nwant %q", got, want)
	}
	if got := objectStorage(map[string]float64{}); got != "" {
		t.Errorf("without object storage: %q", got)
	}
}
