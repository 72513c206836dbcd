package datastreamstest

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer a program under test writes its output to
// (a logger, a child process) while the test reads it: safe for one
// writer and one reader. servertest.SyncBuffer is this type.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
