package objstore

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Config{Endpoint: "http://127.0.0.1:7070", Bucket: "b", AccessKeyID: "a", SecretAccessKey: "s"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string // in the error; "" = valid
	}{
		{"no bucket", func(c *Config) { c.Bucket = "" }, "bucket is required"},
		{"bucket with a path", func(c *Config) { c.Bucket = "b/eddy" }, "put a path in prefix"},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "127.0.0.1:7070" }, "want an http:// or https:// URL"},
		{"endpoint ftp", func(c *Config) { c.Endpoint = "ftp://host" }, "want an http:// or https:// URL"},
		{"endpoint not a URL", func(c *Config) { c.Endpoint = "http://[::1" }, "is not a URL"},
		{"endpoint without host", func(c *Config) { c.Endpoint = "http:///x" }, "has no host"},
		{"endpoint with query", func(c *Config) { c.Endpoint = "https://s3.example.com/?x=1" }, "without user, query or fragment"},
		{"https endpoint with path", func(c *Config) { c.Endpoint = "https://s3.example.com/base" }, ""},
		{"AWS (no endpoint)", func(c *Config) { c.Endpoint = "" }, ""},
		{"key without secret", func(c *Config) { c.SecretAccessKey = "" }, "give both, or neither"},
		{"secret without key", func(c *Config) { c.AccessKeyID = "" }, "give both, or neither"},
		{"neither key nor secret", func(c *Config) { c.AccessKeyID, c.SecretAccessKey = "", "" }, ""},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "negative"},
		{"part too small", func(c *Config) { c.PartSize = 1 << 20 }, "outside S3's limits"},
		{"part too large", func(c *Config) { c.PartSize = 6 << 30 }, "outside S3's limits"},
		{"part minimum", func(c *Config) { c.PartSize = MinPartSize }, ""},
	} {
		cfg := ok
		c.edit(&cfg)
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
		if c.want != "" {
			if _, nerr := New(cfg); nerr == nil {
				t.Errorf("%s: New accepted what Validate refuses", c.name)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	c := Config{Bucket: "b", Prefix: "//a//b"}.withDefaults()
	if c.Region != DefaultRegion || c.Timeout != DefaultTimeout || c.PartSize != DefaultPartSize || c.Prefix != "a/b/" {
		t.Fatalf("withDefaults = %+v", c)
	}
}

// FuzzKeys: whatever the configured prefix and the key, the object key
// never starts with a slash, never has a double slash the key did not
// bring, and starts with the prefix.
func FuzzKeys(f *testing.F) {
	for _, s := range [][2]string{{"", "a/b"}, {"/", "/c"}, {"eddy", "x"}, {"/x//y/", "//e/f"}, {"a/", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, key string) {
		p := cleanPrefix(prefix)
		if p != "" && (!strings.HasSuffix(p, "/") || strings.HasPrefix(p, "/") || strings.Contains(p, "//")) {
			t.Fatalf("cleanPrefix(%q) = %q", prefix, p)
		}
		if cleanPrefix(p) != p {
			t.Fatalf("cleanPrefix is not idempotent on %q: %q", p, cleanPrefix(p))
		}
		full := fullKey(p, key)
		if !strings.HasPrefix(full, p) || strings.HasPrefix(full, "/") {
			t.Fatalf("fullKey(%q, %q) = %q", p, key, full)
		}
		if strings.Contains(full, "//") && !strings.Contains(strings.TrimLeft(key, "/"), "//") {
			t.Fatalf("fullKey(%q, %q) = %q has a double slash", p, key, full)
		}
	})
}
