package servertest

import "github.com/eddy-video/eddy/datastreams/datastreamstest"

// SyncBuffer is a bytes.Buffer a program under test writes its output to
// while the test reads it: safe for one writer and one reader (the layers
// below the server share it from datastreamstest).
type SyncBuffer = datastreamstest.SyncBuffer
