package objstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Defaults and limits of Config.
const (
	DefaultRegion   = "us-east-1"
	DefaultTimeout  = 30 * time.Second
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's largest part.
	MaxPartSize = 5 << 30
	// maxParts is S3's limit of parts in one multipart upload.
	maxParts = 10000
)

// Validate reports the first thing wrong with c, in the terms of the
// server's storage.object section.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("objstore: bucket is required")
	}
	if strings.ContainsAny(c.Bucket, "/ \\") {
		return fmt.Errorf("objstore: bucket %q: a bucket name has no slash or space (put a path in prefix)", c.Bucket)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil {
			return fmt.Errorf("objstore: endpoint %q is not a URL (%v): want an http:// or https:// URL such as http://127.0.0.1:7070", c.Endpoint, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return fmt.Errorf("objstore: endpoint %q: want an http:// or https:// URL such as http://127.0.0.1:7070", c.Endpoint)
		}
		if u.Host == "" {
			return fmt.Errorf("objstore: endpoint %q has no host", c.Endpoint)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("objstore: endpoint %q: want scheme://host[:port][/path] without user, query or fragment", c.Endpoint)
		}
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		return errors.New("objstore: access_key_id and secret_access_key go together: give both, or neither to use the AWS default credential chain (environment, shared files, instance role)")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("objstore: timeout %v is negative", c.Timeout)
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		return fmt.Errorf("objstore: part size %d is outside S3's limits [%d (5 MiB), %d (5 GiB)]", c.PartSize, int64(MinPartSize), int64(MaxPartSize))
	}
	return nil
}

// withDefaults fills the zero fields of a valid c.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	c.Prefix = cleanPrefix(c.Prefix)
	return c
}

// cleanPrefix makes a configured prefix "" or "a/b/": no leading slash, no
// empty segment, one trailing slash.
func cleanPrefix(p string) string {
	var segs []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return ""
	}
	return strings.Join(segs, "/") + "/"
}

// fullKey is key under prefix (a cleanPrefix); a leading slash of key is
// dropped so that prefix and key never meet in a double slash.
func fullKey(prefix, key string) string {
	return prefix + strings.TrimLeft(key, "/")
}
