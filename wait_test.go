package main

import (
	"strings"
	"sync"
	"time"
)

// loadedMachine bounds a wait for what takes a second or two on a quiet
// machine (a server starting, a reload finishing): the tests also run on
// shared machines whose every core is busy with other work. A bound that is
// too short fails a correct program; one that is long costs time only when
// something is wrong.
const loadedMachine = 2 * time.Minute

// eventually polls cond until it holds, and tells whether it did within the
// bound: tests wait for a condition, never for a duration to pass.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// syncBuffer collects what a running command prints, for a test that reads
// it while the command still writes (a strings.Builder is not safe for that).
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
