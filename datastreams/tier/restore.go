package tier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eddy-video/eddy/datastreams/atomicfile"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
)

// RestoreSummary is what Restore brought back.
type RestoreSummary struct {
	Streams, Segments, Files int
	Bytes                    int64 // of the files downloaded (segments stay in the bucket)
}

// keyPath returns the relative file path of an object key. Keys come
// from the network: anything but clean slash-separated names (no empty,
// "." or ".." element, no leading slash, no backslash, no NUL, no
// Windows volume) is refused.
func keyPath(key string) (string, error) {
	if key == "" {
		return "", errors.New("empty key")
	}
	if strings.ContainsAny(key, "\\\x00") {
		return "", fmt.Errorf("key %q has a backslash or NUL", key)
	}
	for el := range strings.SplitSeq(key, "/") {
		if el == "" || el == "." || el == ".." {
			return "", fmt.Errorf("key %q is not a clean relative path", key)
		}
	}
	p := filepath.FromSlash(key)
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("key %q is not a local path", key)
	}
	return p, nil
}

// restorable reports whether Restore brings a key back: FORMAT and what
// is under streams/.
func restorable(key string) bool {
	return key == formatFile || strings.HasPrefix(key, streamsDir+"/")
}

// Restore builds the data directory dir (which must be empty or absent)
// from the bucket alone: the mirrored files, each log's sparse indexes
// and upload records; segments stay in the bucket and are read cold. A
// segment whose index is not in the bucket is left out and logged (its
// log opens without it). The mirror manifest is written too, so the
// restored node does not upload the files again.
func Restore(ctx context.Context, b objstore.Bucket, dir string, log *slog.Logger) (RestoreSummary, error) {
	var sum RestoreSummary
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return sum, fmt.Errorf("restore: %w", err)
	case len(ents) > 0:
		return sum, fmt.Errorf("restore: %s is not empty: restore into a new or empty directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sum, fmt.Errorf("restore: %w", err)
	}
	type seg struct {
		key  string
		size int64
	}
	var segs []seg
	keys := map[string]bool{}
	streams := map[string]bool{}
	manifest := map[string]stamp{}
	after := ""
	for {
		objs, more, err := b.List(ctx, "", after, listPage)
		if err != nil {
			return sum, fmt.Errorf("restore: list the bucket: %w", err)
		}
		for _, o := range objs {
			after = o.Key
			p, err := keyPath(o.Key)
			if err != nil || !restorable(o.Key) {
				log.Warn("restore: object skipped", "key", o.Key, "err", err)
				continue
			}
			keys[o.Key] = true
			if sd, ok := streamDirOf(o.Key); ok {
				streams[sd] = true
			}
			if _, isSeg := parseBase(filepath.Base(p)); isSeg && strings.HasSuffix(o.Key, segSuffix) {
				segs = append(segs, seg{o.Key, o.Size})
				continue
			}
			data, err := b.Get(ctx, o.Key)
			if err != nil {
				return sum, fmt.Errorf("restore: get %s: %w", o.Key, err)
			}
			dst := filepath.Join(dir, p)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return sum, fmt.Errorf("restore: %w", err)
			}
			if err := atomicfile.WriteFile(dst, data, 0o644); err != nil {
				return sum, fmt.Errorf("restore: %w", err)
			}
			if fi, err := os.Stat(dst); err == nil {
				if _, isIdx := parseBase(filepath.Base(p)); !isIdx {
					manifest[o.Key] = stamp{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
				}
			}
			sum.Files++
			sum.Bytes += int64(len(data))
		}
		if !more || len(objs) == 0 {
			break
		}
	}
	orphans := 0
	for _, s := range segs {
		stem := strings.TrimSuffix(s.key, segSuffix)
		if !keys[stem+idxSuffix] {
			orphans++
			log.Warn("restore: segment without its index in the bucket left out", "key", s.key)
			continue
		}
		o, err := b.Head(ctx, s.key)
		if err != nil {
			return sum, fmt.Errorf("restore: head %s: %w", s.key, err)
		}
		crc, err := parseCRC(o.Meta[metaCRC])
		if err != nil {
			orphans++
			log.Warn("restore: segment without a valid checksum left out", "key", s.key, "err", err)
			continue
		}
		size := s.size
		if o.Size > 0 {
			size = o.Size
		}
		up, err := json.Marshal(filelog.Upload{Size: size, CRC32C: crc, At: time.Now().UnixNano()})
		if err != nil {
			return sum, err
		}
		p, _ := keyPath(stem + ".up")
		if err := atomicfile.WriteFile(filepath.Join(dir, p), up, 0o644); err != nil {
			return sum, fmt.Errorf("restore: %w", err)
		}
		sum.Segments++
	}
	if err := writeManifest(filepath.Join(dir, tierDir, mirrorFile), manifest); err != nil {
		return sum, fmt.Errorf("restore: %w", err)
	}
	sum.Streams = len(streams)
	log.Info("restored from object storage", "dir", dir, "streams", sum.Streams, "segments", sum.Segments,
		"files", sum.Files, "bytes", sum.Bytes, "segments_left_out", orphans)
	return sum, nil
}
