package server_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
	"github.com/eddy-video/eddy/webrtc/whepclient"
)

// attrLog is a slog.Handler that keeps, for every record, its message
// and the full key (groups included) of each attribute: those the
// loggers were built With and the record's own.
type attrLog struct {
	mu      *sync.Mutex
	records *[]logRecord
	prefix  string   // the open groups, "a.b."
	attrs   []string // from WithAttrs, key=value
}

type logRecord struct {
	msg   string
	attrs []string // key=value, keys with their groups
}

func (r logRecord) value(key string) (string, bool) {
	for _, kv := range r.attrs {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

func newAttrLog() *attrLog { return &attrLog{mu: new(sync.Mutex), records: new([]logRecord)} }

func (h *attrLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *attrLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clip(h.attrs)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *attrLog) WithGroup(name string) slog.Handler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func (h *attrLog) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{msg: r.Message, attrs: slices.Clone(h.attrs)}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs = appendAttr(rec.attrs, h.prefix, a)
		return true
	})
	h.mu.Lock()
	*h.records = append(*h.records, rec)
	h.mu.Unlock()
	return nil
}

// appendAttr appends a as key=value with its full key, or its members
// for a group, as slog's handlers write them.
func appendAttr(attrs []string, prefix string, a slog.Attr) []string {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, m := range v.Group() {
			attrs = appendAttr(attrs, prefix, m)
		}
		return attrs
	}
	if a.Key == "" {
		return attrs
	}
	return append(attrs, prefix+a.Key+"="+v.String())
}

// snapshot returns the records so far.
func (h *attrLog) snapshot() []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(*h.records)
}

// TestLogAttributesOnce runs a server through a publication, a pull
// source added by a reload, LIVE HLS and a WHEP viewer, and checks that
// no log record carries an attribute key twice (as `component=media
// component=media` once did): each package names its own component on
// the logger it is given, and its callers hand it theirs unnamed.
func TestLogAttributesOnce(t *testing.T) {
	t.Parallel()
	logs := newAttrLog()
	cfg := servertest.Config(t)
	cfg.LogLevel = "debug"
	level := new(slog.LevelVar)
	level.Set(slog.LevelDebug)
	srv := &server.Server{Config: cfg, Logger: slog.New(logs), LogLevel: level}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	e := &servertest.Env{URL: "http://" + srv.HTTPAddr(), Dir: cfg.Data, Server: srv, Config: cfg}
	ctx := servertest.Context(t, time.Minute)

	stop := publishLive(ctx, t, e, "cam", 0)
	// A pull source of the same publication, added live.
	reload(t, e, func(c *server.Config) {
		c.Video.Sources = append(c.Video.Sources, server.SourceConfig{Stream: "pulled", URL: e.RTSPURL("cam")})
	})
	waitLive(t, e, "pulled")

	am := e.ArchivedMedia()
	var live *kinesisvideoarchivedmedia.GetHLSStreamingSessionURLOutput
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if live, err = am.GetHLSStreamingSessionURL(ctx, &kinesisvideoarchivedmedia.GetHLSStreamingSessionURLInput{StreamName: aws.String("cam")}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("LIVE HLS session: %v", err)
	}
	if status, _, master := httpGet(t, *live.HLSStreamingSessionURL); status != 200 {
		t.Fatalf("master playlist: %d %s", status, master)
	} else if status, _, media := httpGet(t, playlistURIs(*live.HLSStreamingSessionURL, master)[0]); status != 200 {
		t.Fatalf("media playlist: %d %s", status, media)
	}

	v, err := newWHEPViewer(ctx, t, e.URL+"/webrtc/cam/whep")
	if err != nil {
		t.Fatalf("WHEP: %v", err)
	}
	v.first(t, 10*time.Second)
	if code, err := whepclient.EndSession(ctx, http.DefaultClient, v.session); err != nil || code != 200 {
		t.Fatalf("end WHEP session: %d %v", code, err)
	}
	// A refused request logs too.
	if status, _, _ := httpGet(t, e.URL+"/webrtc/nosuch/whep"); status < 400 {
		t.Errorf("GET of a WHEP endpoint: %d", status)
	}
	stop()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	records := logs.snapshot()
	components := map[string]bool{}
	for _, r := range records {
		seen := map[string]bool{}
		for _, kv := range r.attrs {
			k, _, _ := strings.Cut(kv, "=")
			if seen[k] {
				t.Errorf("%q carries %s more than once: %s", r.msg, k, strings.Join(r.attrs, " "))
			}
			seen[k] = true
		}
		if c, ok := r.value("component"); ok {
			components[c] = true
		}
	}
	// The run must have logged through the packages whose loggers are
	// handed down: otherwise it checked nothing.
	for _, c := range []string{"media", "rtsp", "webrtc", "config", "fragments", "datastreams"} {
		if !components[c] {
			t.Errorf("no record of component %s among %d records (components: %v)", c, len(records), components)
		}
	}
}

// TestComponentOnLoggers checks the rule that keeps a component named
// once per line: a package names its component on its logger (With), in
// one place, and never in a single logging call, where it would repeat
// the one its logger already carries.
func TestComponentOnLoggers(t *testing.T) {
	t.Parallel()
	logCalls := map[string]bool{"Debug": true, "Info": true, "Warn": true, "Error": true, "Log": true,
		"DebugContext": true, "InfoContext": true, "WarnContext": true, "ErrorContext": true, "LogAttrs": true}
	files := 0
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !logCalls[sel.Sel.Name] {
				return true
			}
			for _, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING && lit.Value == `"component"` {
					t.Errorf("%s: %s names a component in a logging call; name it once on the package's logger", fset.Position(call.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("walked %d Go files: not the module", files)
	}
}
