package main

import (
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lifts go test's default limit on a whole run, ten minutes, to
// thirty: on a loaded machine (two shared cores) the suite takes ten to
// twelve, and a run that is only slow would die there with every cleanup
// skipped. Each wait in the tests has its own bound, so a hang still fails;
// a limit other than the default, given with -timeout, is kept.
func TestMain(m *testing.M) {
	flag.Parse()
	if limit := flag.Lookup("test.timeout"); limit != nil && limit.Value.String() == (10*time.Minute).String() {
		if err := limit.Value.Set((30 * time.Minute).String()); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

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
