package server_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// loadYAML reads a configuration file of text over the defaults.
func loadYAML(t *testing.T, text string) (server.Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "eddy.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	err := cfg.LoadFile(p)
	return cfg, err
}

// TestObjectStorageConfig: storage.object reads in the documented shape,
// takes its defaults (hot 24h, cache_size 10GB, queue_size 0, cache_dir
// <data>/cache), and is absent without the section.
func TestObjectStorageConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadYAML(t, `data: /var/lib/eddy
storage:
  object:
    endpoint: http://127.0.0.1:7070
    bucket: cams
    prefix: site-a/
    region: eu-west-1
    access_key_id: AKIDEXAMPLE
    secret_access_key: wJalrXUtnFEMI
    path_style: true
`)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.Storage.Object
	if o == nil {
		t.Fatal("storage.object not read")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Endpoint != "http://127.0.0.1:7070" || o.Bucket != "cams" || o.Prefix != "site-a/" || o.Region != "eu-west-1" ||
		o.AccessKeyID != "AKIDEXAMPLE" || o.SecretAccessKey != "wJalrXUtnFEMI" || !o.PathStyle {
		t.Errorf("read %+v", *o)
	}
	if o.Hot != server.Duration(24*time.Hour) || o.CacheSize != 10_000_000_000 || o.QueueSize != 0 {
		t.Errorf("defaults: hot %s, cache_size %s, queue_size %s", o.Hot, o.CacheSize, o.QueueSize)
	}
	if got := o.CacheDirOf(cfg.Data); got != filepath.Join("/var/lib/eddy", "cache") {
		t.Errorf("cache dir %s", got)
	}
	bc, err := o.BucketConfig()
	if err != nil || bc.Bucket != "cams" || bc.SecretAccessKey != "wJalrXUtnFEMI" || !bc.PathStyle || bc.Prefix != "site-a/" {
		t.Errorf("BucketConfig = %+v, %v", bc, err)
	}
	if w := o.Where(); w != "bucket cams (prefix site-a/) at http://127.0.0.1:7070" {
		t.Errorf("Where = %q", w)
	}

	cfg, err = loadYAML(t, "storage:\n  object:\n    bucket: b\n    access_key_id: k\n    secret_access_key: s\n    hot: 0s\n    cache_size: 64MB\n    queue_size: 50GB\n    cache_dir: /fast/cache\n")
	if err != nil {
		t.Fatal(err)
	}
	o = cfg.Storage.Object
	if o.Hot != 0 || o.CacheSize != 64_000_000 || o.QueueSize != 50_000_000_000 || o.CacheDirOf("/d") != "/fast/cache" {
		t.Errorf("set values: %+v", *o)
	}
	if w := o.Where(); !strings.Contains(w, "AWS S3 in us-east-1") {
		t.Errorf("Where without an endpoint = %q", w)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	if cfg = server.DefaultConfig(); cfg.Storage.Object != nil {
		t.Error("object storage on by default")
	}
	if _, err := loadYAML(t, "storage:\n  object:\n    bucket: b\n    buckett: c\n"); err == nil {
		t.Error("an unknown key of storage.object was accepted")
	}
}

// TestObjectStorageConfigValidate: each mistake gets a message naming
// the key and what to write, and no message holds the secret.
func TestObjectStorageConfigValidate(t *testing.T) {
	t.Parallel()
	const secret = "Zq9SecretValue"
	secretFile := filepath.Join(t.TempDir(), "s3.secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	good := func() *server.ObjectStorageConfig {
		return &server.ObjectStorageConfig{Bucket: "b", AccessKeyID: "k", SecretAccessKey: secret,
			Hot: server.DefaultObjectHot, CacheSize: server.DefaultObjectCacheSize}
	}
	for _, tc := range []struct {
		name string
		set  func(o *server.ObjectStorageConfig)
		want string // "" valid
	}{
		{"valid", func(*server.ObjectStorageConfig) {}, ""},
		{"secret in a file", func(o *server.ObjectStorageConfig) { o.SecretAccessKey, o.SecretAccessKeyFile = "", secretFile }, ""},
		{"no bucket", func(o *server.ObjectStorageConfig) { o.Bucket = "" }, "storage.object.bucket"},
		{"no access key id", func(o *server.ObjectStorageConfig) { o.AccessKeyID = "" }, "storage.object.access_key_id"},
		{"no keys: the SDK's default credentials", func(o *server.ObjectStorageConfig) { o.AccessKeyID, o.SecretAccessKey = "", "" }, ""},
		{"no secret", func(o *server.ObjectStorageConfig) { o.SecretAccessKey = "" }, "set secret_access_key or secret_access_key_file, not both"},
		{"both secrets", func(o *server.ObjectStorageConfig) { o.SecretAccessKeyFile = secretFile }, "not both"},
		{"unreadable secret file", func(o *server.ObjectStorageConfig) {
			o.SecretAccessKey, o.SecretAccessKeyFile = "", filepath.Join(t.TempDir(), "missing")
		}, "storage.object.secret_access_key_file"},
		{"empty secret file", func(o *server.ObjectStorageConfig) { o.SecretAccessKey, o.SecretAccessKeyFile = "", empty }, "is empty"},
		{"negative hot", func(o *server.ObjectStorageConfig) { o.Hot = server.Duration(-time.Hour) }, "storage.object.hot"},
		{"small cache", func(o *server.ObjectStorageConfig) { o.CacheSize = 1 << 20 }, "storage.object.cache_size: 1MiB is too small; use at least 64MB"},
		{"bad endpoint", func(o *server.ObjectStorageConfig) { o.Endpoint = "minio:9000" }, "storage.object.endpoint"},
		{"endpoint with a user", func(o *server.ObjectStorageConfig) { o.Endpoint = "http://u:" + secret + "@minio:9000" }, "storage.object.endpoint"},
		{"bucket with a path", func(o *server.ObjectStorageConfig) { o.Bucket = "cams/site-a" }, "put a path in prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := server.DefaultConfig()
			cfg.Storage.Object = good()
			tc.set(cfg.Storage.Object)
			err := cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want a message with %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), secret):
				t.Fatalf("the message shows the secret: %v", err)
			}
		})
	}
	o := good()
	o.SecretAccessKey, o.SecretAccessKeyFile = "", secretFile
	if s, err := o.LoadSecret(); err != nil || s != secret {
		t.Errorf("LoadSecret = %q, %v (the file's line, trimmed)", s, err)
	}
}

// TestObjectStorageReloadAndSecrets: a reload changes storage.object.hot
// live (the status page shows it), names the other keys as needing a
// restart (and then applies none of the section), refuses an unreadable
// secret file; the secret access key appears nowhere: not in the log, the
// status page, the stream list or /metrics. The store is unreachable:
// the server runs regardless.
func TestObjectStorageReloadAndSecrets(t *testing.T) {
	t.Parallel()
	const secret = "Wq7ObjectSecretZ"
	secretFile := filepath.Join(t.TempDir(), "s3.secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := servertest.Config(t)
	cfg.Storage.Object = &server.ObjectStorageConfig{Endpoint: "http://127.0.0.1:1", Bucket: "cams", AccessKeyID: "uploader",
		SecretAccessKeyFile: secretFile, PathStyle: true, Hot: server.DefaultObjectHot, CacheSize: server.MinObjectCacheSize}
	var logs syncLog
	srv := &server.Server{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := srv.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	base := "http://" + srv.HTTPAddr()
	if !strings.Contains(logs.String(), `"object storage: bucket cams at http://127.0.0.1:1, hot 24h"`) {
		t.Errorf("the start does not say where object storage is:\n%s", logs.String())
	}
	statusHot := func() string {
		var st struct {
			ObjectStorage struct{ Hot, Bucket string } `json:"objectStorage"`
		}
		if code, body := getJSON(t, base+"/api/v1/ui/status", &st); code != 200 {
			t.Fatalf("status: %d %s", code, body)
		}
		return st.ObjectStorage.Hot
	}
	if h := statusHot(); h != "24h" {
		t.Errorf("status hot %q, want 24h", h)
	}

	with := func(f func(o *server.ObjectStorageConfig)) server.Config {
		next := srv.RunningConfig()
		o := *next.Storage.Object
		f(&o)
		next.Storage.Object = &o
		return next
	}
	res, err := srv.Reload(with(func(o *server.ObjectStorageConfig) { o.Hot = 0 }))
	if err != nil || len(res.Restart) != 0 || !strings.Contains(strings.Join(res.Applied, "\n"), "storage.object.hot: 0s (was 24h)") {
		t.Fatalf("reload hot 0s: %+v, %v", res, err)
	}
	if h := statusHot(); h != "0s" {
		t.Errorf("after the reload, status hot %q, want 0s", h)
	}

	res, err = srv.Reload(with(func(o *server.ObjectStorageConfig) { o.Bucket, o.Hot = "other", server.Duration(time.Hour) }))
	if err != nil || strings.Join(res.Restart, ",") != "storage.object.bucket" {
		t.Fatalf("reload of the bucket: %+v, %v; want storage.object.bucket named as needing a restart", res, err)
	}
	if h := statusHot(); h != "0s" || srv.RunningConfig().Storage.Object.Bucket != "cams" {
		t.Errorf("a reload needing a restart applied part of storage.object: hot %s, bucket %s", h, srv.RunningConfig().Storage.Object.Bucket)
	}
	off := srv.RunningConfig()
	off.Storage.Object = nil
	if res, err = srv.Reload(off); err != nil || strings.Join(res.Restart, ",") != "storage.object (turning object storage off)" {
		t.Fatalf("reload without storage.object: %+v, %v", res, err)
	}

	_, err = srv.Reload(with(func(o *server.ObjectStorageConfig) { o.SecretAccessKeyFile = filepath.Join(t.TempDir(), "gone") }))
	var re *server.ReloadError
	if !errors.As(err, &re) || !re.Refused || !strings.Contains(err.Error(), "storage.object.secret_access_key_file") {
		t.Fatalf("reload with an unreadable secret file: %v, want refused naming the key", err)
	}
	if _, err := srv.Reload(with(func(o *server.ObjectStorageConfig) { o.SecretAccessKey = secret })); err == nil {
		t.Fatal("a reload with both secret keys was not refused")
	}

	for _, u := range []string{"/api/v1/ui/status", "/api/v1/streams", "/metrics"} {
		_, _, body := httpGet(t, base+u)
		if strings.Contains(body, secret) {
			t.Errorf("%s shows the secret", u)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the log holds the secret:\n%s", logs.String())
	}
}

// TestObjectStorageCacheDirLocked: a second eddy on the same data
// directory is refused before its cache could empty the running one's
// cache directory (ErrLocked, naming cache_dir), and the running one's
// blocks stay.
func TestObjectStorageCacheDirLocked(t *testing.T) {
	t.Parallel()
	cfg := servertest.Config(t)
	cfg.Storage.Object = &server.ObjectStorageConfig{Endpoint: "http://127.0.0.1:1", Bucket: "cams", AccessKeyID: "k",
		SecretAccessKey: "secret-key-1", Hot: server.DefaultObjectHot, CacheSize: server.MinObjectCacheSize}
	e := servertest.StartConfig(t, cfg)
	block := filepath.Join(cfg.Storage.Object.CacheDirOf(e.Dir), "a-block.blk")
	if err := os.WriteFile(block, []byte("cached"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := &server.Server{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	err := second.Initialize()
	if err == nil {
		_ = second.Close()
	}
	if !errors.Is(err, datastreams.ErrLocked) || !strings.Contains(err.Error(), "storage.object.cache_dir") {
		t.Fatalf("a second server on the data directory: %v, want ErrLocked naming storage.object.cache_dir", err)
	}
	if _, err := os.Stat(block); err != nil {
		t.Errorf("the running server's cached block is gone: %v", err)
	}
}
