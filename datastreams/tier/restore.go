package tier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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
// segment whose index is not in the bucket is restored all the same, as a
// local (hot) copy with its upload record (its log's Open rebuilds the
// index by scanning the local file, so it opens with the store down; the
// hot policy drops the copy later), one without a valid
// checksum too (recorded as 0: unknown), so that the restored log's next
// sequence is past every segment in the bucket. What is still left out
// (an empty object, one deleted meanwhile) is listed in
// <dir>/tier/restore-skipped.json: the restored node's reconciliation
// never deletes those keys. The mirror manifest is written too, so the
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
			if o.Key <= after {
				return sum, fmt.Errorf("restore: the bucket's listing goes back (%q after %q)", o.Key, after)
			}
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
	var skipped []string
	for _, s := range segs {
		stem := strings.TrimSuffix(s.key, segSuffix)
		noIdx := !keys[stem+idxSuffix]
		o, err := b.Head(ctx, s.key)
		if errors.Is(err, objstore.ErrNotFound) {
			skipped = append(skipped, s.key, stem+idxSuffix) // deleted since the listing
			continue
		}
		if err != nil {
			return sum, fmt.Errorf("restore: head %s: %w", s.key, err)
		}
		size := s.size
		if o.Size > 0 {
			size = o.Size
		}
		if size <= 0 {
			skipped = append(skipped, s.key, stem+idxSuffix)
			log.Warn("restore: empty segment object left out", "key", s.key)
			continue
		}
		crc, err := parseCRC(o.Meta[metaCRC])
		if err != nil {
			// Restored all the same (its records may be good, and the
			// log's next sequence must be past it): 0 records an unknown
			// checksum; nothing verifies a restored record's checksum.
			crc = 0
			log.Warn("restore: segment without a valid checksum; restored with an unknown one", "key", s.key, "err", err)
		}
		if noIdx {
			// Without its index the segment is restored local (hot): the
			// log's Open rebuilds the index by scanning the local file,
			// never the object (it opens with the store down), and the
			// hot policy drops the local copy later.
			log.Warn("restore: segment without its index in the bucket; restored local so that its log rebuilds the index", "key", s.key)
			data, err := b.Get(ctx, s.key)
			if errors.Is(err, objstore.ErrNotFound) {
				skipped = append(skipped, s.key, stem+idxSuffix)
				continue
			}
			if err != nil {
				return sum, fmt.Errorf("restore: get %s: %w", s.key, err)
			}
			got := crc32.Checksum(data, castagnoli)
			if int64(len(data)) != size || (crc != 0 && got != crc) {
				return sum, fmt.Errorf("restore: get %s: %d bytes crc32c %s, the object's HEAD says %d bytes crc32c %s",
					s.key, len(data), formatCRC(got), size, formatCRC(crc))
			}
			crc = got
			sp, _ := keyPath(s.key)
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, sp)), 0o755); err != nil {
				return sum, fmt.Errorf("restore: %w", err)
			}
			if err := atomicfile.WriteFile(filepath.Join(dir, sp), data, 0o644); err != nil {
				return sum, fmt.Errorf("restore: %w", err)
			}
			sum.Bytes += int64(len(data))
		}
		up, err := json.Marshal(filelog.Upload{Size: size, CRC32C: crc, At: time.Now().UnixNano()})
		if err != nil {
			return sum, err
		}
		p, _ := keyPath(stem + ".up")
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			return sum, fmt.Errorf("restore: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, p), up, 0o644); err != nil {
			return sum, fmt.Errorf("restore: %w", err)
		}
		sum.Segments++
	}
	if len(skipped) > 0 {
		// The restored node's reconciliation never deletes these.
		b, err := json.Marshal(skipped)
		if err != nil {
			return sum, err
		}
		if err := os.MkdirAll(filepath.Join(dir, tierDir), 0o755); err != nil {
			return sum, fmt.Errorf("restore: %w", err)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, tierDir, skippedFile), b, 0o644); err != nil {
			return sum, fmt.Errorf("restore: %w", err)
		}
	}
	if err := writeManifest(filepath.Join(dir, tierDir, mirrorFile), manifest); err != nil {
		return sum, fmt.Errorf("restore: %w", err)
	}
	sum.Streams = len(streams)
	log.Info("restored from object storage", "dir", dir, "streams", sum.Streams, "segments", sum.Segments,
		"files", sum.Files, "bytes", sum.Bytes, "segments_left_out", len(skipped))
	return sum, nil
}

// skippedFile lists (JSON) the segment keys a restore left out.
const skippedFile = "restore-skipped.json"

// loadSkipped reads the keys a restore left out (Start).
func (t *Tier) loadSkipped() error {
	b, err := os.ReadFile(filepath.Join(t.cfg.Root, tierDir, skippedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("tier: %s: %w", skippedFile, err)
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	t.mu.Lock()
	t.skip = m
	t.mu.Unlock()
	return nil
}

// skipped reports whether a restore left key out.
func (t *Tier) skipped(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.skip[key]
}

// skippedUnder reports whether a restore left out a key under prefix.
func (t *Tier) skippedUnder(prefix string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.skip {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
