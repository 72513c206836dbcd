package datastreams

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore/memlog"
)

// writerGoroutines counts the goroutines in shardWriter.run.
func writerGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "datastreams.(*shardWriter).run(")
}

// TestLazyShardWriter: a lazy writer's goroutine runs only while requests
// wait, and comes back for the next; many submitters at once, more than
// its queue holds, are all answered, in order, each request's records
// together (run with -race).
func TestLazyShardWriter(t *testing.T) {
	before := writerGoroutines()
	log := memlog.New()
	w := newShardWriter(log, 4, true, true, 0, time.Now, nil, nil)
	defer w.close()
	if n := writerGoroutines() - before; n != 0 {
		t.Fatalf("%d writer goroutine(s) before any request", n)
	}
	for i := range 3 {
		done, err := w.submit([]Entry{{Key: []byte("k"), Data: []byte(fmt.Sprint(i))}}, false)
		if err != nil {
			t.Fatal(err)
		}
		if res := <-done; res.err != nil || res.first != uint64(i)+1 {
			t.Fatalf("request %d: first %d, %v", i, res.first, res.err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for writerGoroutines() != before {
			if time.Now().After(deadline) {
				t.Fatalf("request %d answered, its writer goroutine still runs", i)
			}
			time.Sleep(time.Millisecond)
		}
	}

	const submitters, each = 16, 50
	var wg sync.WaitGroup
	firsts := make([][]uint64, submitters)
	for s := range submitters {
		wg.Go(func() {
			for i := range each {
				done, err := w.submit([]Entry{{Key: []byte("a"), Data: []byte{byte(s), byte(i)}}, {Key: []byte("b"), Data: []byte{byte(s), byte(i)}}}, false)
				if err != nil {
					t.Error(err)
					return
				}
				res := <-done
				if res.err != nil {
					t.Error(res.err)
					return
				}
				firsts[s] = append(firsts[s], res.first)
			}
		})
	}
	wg.Wait()
	for s, fs := range firsts {
		if len(fs) != each {
			t.Fatalf("submitter %d: %d answers of %d", s, len(fs), each)
		}
		for i := 1; i < len(fs); i++ {
			if fs[i] <= fs[i-1] {
				t.Fatalf("submitter %d: request %d got seq %d after %d", s, i, fs[i], fs[i-1])
			}
		}
	}
	if _, next := log.Bounds(); next != 3+1+submitters*each*2 {
		t.Fatalf("log ends at %d, want %d", next, 3+1+submitters*each*2)
	}
}
