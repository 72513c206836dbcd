package web

import "time"

// startTime is the Last-Modified of embedded files: embed.FS has no
// modification times, and the files cannot change while the process runs.
var startTime = time.Now().UTC().Truncate(time.Second)
