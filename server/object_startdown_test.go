package server_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// objServer is an in-process server over a data directory that the test
// stops and starts again (servertest's Env lives as long as the test).
type objServer struct {
	srv  *server.Server
	url  string
	logs *servertest.SyncBuffer
}

// startObjServer initializes a server with cfg and waits for /healthz
// 200, within `within` from the start; it returns how long that took.
// A server that does not come up in time fails the test (its
// initialization is left to end on its own).
func startObjServer(t *testing.T, cfg server.Config, within time.Duration) (*objServer, time.Duration) {
	t.Helper()
	logs := &servertest.SyncBuffer{}
	srv := &server.Server{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- srv.Initialize() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start the server: %v\nit said:\n%s", err, tailString(logs.String(), 8<<10))
		}
	case <-time.After(within):
		t.Cleanup(func() {
			if <-done == nil {
				_ = srv.Close()
			}
		})
		t.Fatalf("the server not started after %v\nit said:\n%s", within, tailString(logs.String(), 8<<10))
	}
	s := &objServer{srv: srv, url: "http://" + srv.HTTPAddr(), logs: logs}
	t.Cleanup(func() {
		_ = srv.Close() // once: a second Close returns the first's error
		if t.Failed() {
			t.Logf("server %s said:\n%s", s.url, tailString(logs.String(), 16<<10))
		}
	})
	objWaitUntil(t, time.Until(start.Add(within)), "/healthz 200", func() (bool, string) {
		resp, err := http.Get(s.url + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return s, time.Since(start)
}

// streamLogDirs maps each stream name of a data directory to the
// directories of its logs (relative to the data directory, as dataLogs
// names them), by reading every stream directory's stream.json.
func streamLogDirs(t *testing.T, data string) map[string][]string {
	t.Helper()
	metas, err := filepath.Glob(filepath.Join(data, "streams", "*", "stream.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, m := range metas {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		name := meta.Name
		rel, _ := filepath.Rel(data, filepath.Dir(m))
		rel = filepath.ToSlash(rel)
		for dir := range dataLogs(t, data) {
			if strings.HasPrefix(dir, rel+"/") {
				out[name] = append(out[name], dir)
			}
		}
	}
	return out
}

// coldSegmentsOf counts the segments of the logs in dirs that are only in
// the bucket: an upload record (.up) without its segment file (.seg).
func coldSegmentsOf(t *testing.T, data string, dirs []string) int {
	t.Helper()
	logs := dataLogs(t, data)
	n := 0
	for _, dir := range dirs {
		if lf := logs[dir]; lf != nil {
			for _, up := range lf.ups {
				if !slices.Contains(lf.segs, up) {
					n++
				}
			}
		}
	}
	return n
}

// countNotes counts the events of type note (the test's own: the server
// adds events of its own, such as a publication's start).
func countNotes(evs []apiEvent) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == "note" {
			n++
		}
	}
	return n
}

// eventsMissing describes what got lacks: an event of before (by id) that
// is not in it, or differs (type, label, times), or is in it twice; an
// event labelled one of labels that is not in it.
func eventsMissing(got, before []apiEvent, labels []string) []string {
	byID := map[string][]apiEvent{}
	byLabel := map[string]bool{}
	for _, ev := range got {
		byID[ev.ID] = append(byID[ev.ID], ev)
		byLabel[ev.Label] = true
	}
	var out []string
	for _, ev := range before {
		switch g := byID[ev.ID]; {
		case len(g) == 0:
			out = append(out, fmt.Sprintf("event %s (%s) missing", ev.ID, ev.Label))
		case len(g) > 1:
			out = append(out, fmt.Sprintf("event %s (%s) listed %d times", ev.ID, ev.Label, len(g)))
		case g[0].Type != ev.Type || g[0].Label != ev.Label || !g[0].Time.Equal(ev.Time) || !g[0].ServerTime.Equal(ev.ServerTime):
			out = append(out, fmt.Sprintf("event %+v, before %+v", g[0], ev))
		}
	}
	for _, l := range labels {
		if !byLabel[l] {
			out = append(out, fmt.Sprintf("event %s (put while the store was down) missing", l))
		}
	}
	return out
}

// TestObjectTierStartsWhileStoreDown records a minute of video and 140
// events of about 15 KB on a server with storage.object (versitygw) and
// hot 0s until both the video log and its events log have cold segments
// (an upload record, no local segment file), stops the server, stops the
// object store and starts the server again on the same data directory.
// Its event timeline re-reads the event log from its start at open, which
// is cold: the server must not wait for that (nor fail). It starts
// (healthz 200 within 5 s), answers a read of a cold fragment with 503
// ClientLimitExceededException naming object storage in under 2 s, lists
// the fragments of before (the index is local), takes new video (PutMedia
// acks PERSISTED, a sealed segment pending upload) and events, and names
// the stream as still catching up. Once the store is back, within a
// minute: ListFragments lists every fragment acked before and after the
// restart, once each, in fragment-number order (server times in the same
// order); the events API has the events put before (as they were) and
// during the outage; eddy_object_pending_bytes is 0, no stream is catching
// up, and nothing was lost.
func TestObjectTierStartsWhileStoreDown(t *testing.T) {
	t.Parallel()
	mediatest.RequireTool(t, "ffmpeg")
	testStart := time.Now()
	store := startObjStore(t)
	cfg := objConfig(t, store.objYAML("0s"))
	ctx := servertest.Context(t, 3*time.Minute)
	const stream = "cam-startdown"

	a, _ := startObjServer(t, cfg, 30*time.Second)
	kv, am := kvClients(a.url)
	createObjStream(ctx, t, kv, stream, 24)
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	before := ingestClip(ctx, t, a.url, stream, base, 3)
	k := servertest.KinesisAt(a.url)
	pad := strings.Repeat("x", 15000)
	var evs [][]byte
	for i := range 140 {
		at := base.Add(time.Duration(i) * 300 * time.Millisecond).UTC().Format(time.RFC3339Nano)
		evs = append(evs, fmt.Appendf(nil, `{"type":"note","time":%q,"label":"e%d","attributes":{"pad":%q}}`, at, i, pad))
	}
	for batch := range slices.Chunk(evs, 20) {
		putEvents(ctx, t, k, stream, batch)
	}
	waitTiered(t, a.url, cfg.Data, 3, time.Minute)
	dirs := streamLogDirs(t, cfg.Data)
	if len(dirs[stream]) == 0 || len(dirs[stream+".events"]) == 0 {
		t.Fatalf("log directories by stream: %v, want %s and %s.events", dirs, stream, stream)
	}
	videoCold, eventsCold := coldSegmentsOf(t, cfg.Data, dirs[stream]), coldSegmentsOf(t, cfg.Data, dirs[stream+".events"])
	if videoCold == 0 || eventsCold == 0 {
		t.Fatalf("cold segments: %d of the video log, %d of the events log; want some of both", videoCold, eventsCold)
	}
	if frags := allFragments(ctx, t, am, stream); len(frags) != len(before) {
		t.Fatalf("%d fragments listed, %d acked", len(frags), len(before))
	}
	eventsBefore, _ := eventPages(t, a.url+"/api/v1/streams/"+stream, eventsQuery(base), 1000)
	if n := countNotes(eventsBefore); n != len(evs) {
		t.Fatalf("events API: %d of the %d events put (%d events in all)", n, len(evs), len(eventsBefore))
	}
	if err := a.srv.Close(); err != nil {
		t.Fatalf("close the server: %v", err)
	}
	store.Stop()
	t.Logf("stopped the server (%d fragments, %d events; %d cold segments of the video log, %d of the events log) and the object store",
		len(before), len(eventsBefore), videoCold, eventsCold)

	// Started again while the store is down: it must come up at once.
	b, took := startObjServer(t, cfg, 5*time.Second)
	t.Logf("started again while the object store is down: healthz 200 after %v", took.Round(time.Millisecond))
	_, am = kvClients(b.url)
	k = servertest.KinesisAt(b.url)

	// A read of a cold fragment fails fast, in the API's terms.
	status, typ, msg, probe := coldProbe(ctx, t, b.url, "/getMediaForFragmentList", fmt.Sprintf(`{"StreamName":%q,"Fragments":[%q]}`, stream, before[0]))
	if status != http.StatusServiceUnavailable || typ != "ClientLimitExceededException" || !strings.Contains(strings.ToLower(msg), "object storage") {
		t.Errorf("GetMediaForFragmentList of a cold fragment while the store is down: %d %s %s; want 503 ClientLimitExceededException naming object storage", status, typ, msg)
	}
	if probe > 2*time.Second {
		t.Errorf("GetMediaForFragmentList of a cold fragment while the store is down took %v, want < 2 s", probe)
	}
	// ListFragments answers (listAll fails the test on an error), from
	// the local index: every fragment of before.
	var during []string
	for _, f := range allFragments(ctx, t, am, stream) {
		during = append(during, *f.FragmentNumber)
	}
	if !slices.Equal(during, before) {
		t.Errorf("ListFragments while the store is down lists %v, want the %d fragments acked before: %v", during, len(before), before)
	}

	// New video and events while the store is down.
	base2 := base.Add(10 * time.Minute)
	after := ingestClip(ctx, t, b.url, stream, base2, 2)
	var evs2 [][]byte
	var labels2 []string
	for i := range 5 {
		at := base2.Add(time.Duration(i) * time.Second).UTC().Format(time.RFC3339Nano)
		labels2 = append(labels2, fmt.Sprintf("during%d", i))
		evs2 = append(evs2, fmt.Appendf(nil, `{"type":"note","time":%q,"label":%q}`, at, labels2[i]))
	}
	putEvents(ctx, t, k, stream, evs2)
	// The segment sealed meanwhile waits for the store.
	var fams map[string]*dto.MetricFamily
	objWaitUntil(t, 10*time.Second, "a segment pending upload while the store is down", func() (bool, string) {
		fams = scrapeURL(t, b.url)
		pending := objMetric(fams, "eddy_object_pending_bytes")
		return pending > 0, fmt.Sprintf("eddy_object_pending_bytes %v", pending)
	})
	// The restart's re-read of the event log (from before the timeline's
	// watermark) needs its cold segment: it waits in the background.
	catching := b.srv.Videos().CatchingUp()
	if !slices.Contains(catching, stream) {
		t.Errorf("while the store is down, the streams catching up are %v; want %s (its event timeline re-reads a cold segment)", catching, stream)
	}
	t.Logf("while the store is down: %d fragments listed at first, %d more acked, pending %v bytes, available %v, catching up %v",
		len(during), len(after), objMetric(fams, "eddy_object_pending_bytes"), objMetric(fams, "eddy_object_available"), catching)
	if t.Failed() {
		return
	}

	store.Start()
	back := time.Now()
	want := append(slices.Clone(before), after...)
	objWaitUntil(t, time.Minute, "every fragment listed, every event back, nothing pending", func() (bool, string) {
		frags := allFragments(ctx, t, am, stream)
		var nums []string
		for _, f := range frags {
			nums = append(nums, *f.FragmentNumber)
		}
		got, _ := eventPages(t, b.url+"/api/v1/streams/"+stream, eventsQuery(base), 1000)
		pending := objMetric(scrapeURL(t, b.url), "eddy_object_pending_bytes")
		missing := eventsMissing(got, eventsBefore, labels2)
		catching := b.srv.Videos().CatchingUp()
		return slices.Equal(nums, want) && len(missing) == 0 && pending == 0 && len(catching) == 0,
			fmt.Sprintf("%d of %d fragments listed, %d events missing or changed, pending %v bytes, catching up %v",
				len(nums), len(want), len(missing), pending, catching)
	})
	t.Logf("caught up %v after the store's return", time.Since(back).Round(time.Millisecond))

	frags := allFragments(ctx, t, am, stream)
	for i := 1; i < len(frags); i++ {
		if frags[i].ServerTimestamp.Before(*frags[i-1].ServerTimestamp) {
			t.Errorf("fragment %s has server time %v, before %s's %v", *frags[i].FragmentNumber, frags[i].ServerTimestamp, *frags[i-1].FragmentNumber, frags[i-1].ServerTimestamp)
		}
	}
	eventsAfter, _ := eventPages(t, b.url+"/api/v1/streams/"+stream, eventsQuery(base), 1000)
	for _, m := range eventsMissing(eventsAfter, eventsBefore, labels2) {
		t.Errorf("events API after the restart: %s", m)
	}
	if n := countNotes(eventsAfter); n != len(evs)+len(evs2) {
		t.Errorf("events API after the restart: %d of the events put, want %d", n, len(evs)+len(evs2))
	}
	if v := objMetric(scrapeURL(t, b.url), "eddy_object_lost_bytes_total"); v != 0 {
		t.Errorf("eddy_object_lost_bytes_total %v", v)
	}
	t.Logf("%d fragments and %d events before the restart, %d and %d after; %v in all",
		len(before), len(eventsBefore), len(after), len(evs2), time.Since(testStart).Round(time.Second))
}
