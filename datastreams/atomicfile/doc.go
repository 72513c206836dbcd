// Package atomicfile writes small files so that a crash leaves either the
// old or the new contents (temp file, fsync, rename, directory fsync), and
// syncs directories after entries change.
//
// It owns nothing but that file-system discipline: it knows no streams,
// logs or formats, and imports nothing of Eddy's.
package atomicfile
