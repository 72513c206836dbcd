package auth

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestSlowDownTakesTurns: an address over its failure limit is slowed,
// and its parallel requests wait one after another, so that opening more
// connections does not buy more attempts; other addresses are not
// slowed, and an IPv6 client is one address across its /64.
func TestSlowDownTakesTurns(t *testing.T) {
	a, _ := newTestAuth(t)
	a.FailureLimit, a.FailureDelay = 2, 100*time.Millisecond
	for range 3 {
		a.Failed("web", "signature", "192.0.2.1:1234", "AKIDX")
	}
	ctx := context.Background()
	start := time.Now()
	a.Wait(ctx, "192.0.2.2:5555")
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("another address waited %v", d)
	}
	const parallel = 5
	var wg sync.WaitGroup
	start = time.Now()
	for range parallel {
		wg.Go(func() { a.Wait(ctx, "192.0.2.1:9999") })
	}
	wg.Wait()
	if d := time.Since(start); d < parallel*a.FailureDelay {
		t.Fatalf("%d parallel requests of a slowed address all answered within %v; want one per %v", parallel, d, a.FailureDelay)
	}

	for i := range 3 {
		a.Failed("rtsp", "signature", "[2001:db8:1:2::"+string(rune('a'+i))+"]:554", "")
	}
	start = time.Now()
	a.Wait(ctx, "[2001:db8:1:2:ffff::1]:80")
	if d := time.Since(start); d < a.FailureDelay {
		t.Fatalf("another address of the same /64 waited only %v", d)
	}
	start = time.Now()
	a.Wait(ctx, "[2001:db8:1:3::1]:80")
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("an address of another /64 waited %v", d)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	start = time.Now()
	a.Wait(canceled, "192.0.2.1:1")
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("a request whose client left waited %v", d)
	}
}
