package webrtc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpPair is a batchConn and a plain receiving socket on loopback.
func udpPair(t testing.TB) (*batchConn, *net.UDPConn) {
	t.Helper()
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetReadBuffer(8 << 20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); r.Close() })
	return newBatchConn(s, func(err error) { t.Errorf("held send failed: %v", err) }), r
}

// datagram i of length n: its index and then a pattern, so a datagram cut,
// merged or reordered shows.
func datagram(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*31 + j)
	}
	if n >= 2 {
		b[0], b[1] = byte(i>>8), byte(i)
	}
	return b
}

// receive reads datagrams from r until want have come or wait passes.
func receive(t *testing.T, r *net.UDPConn, want int, wait time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 70000)
	for len(got) < want {
		if err := r.SetReadDeadline(time.Now().Add(wait)); err != nil {
			t.Fatal(err)
		}
		n, _, err := r.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(buf[:n]))
	}
	return got
}

// countSegmented counts segmented sends (and the datagrams in them) while
// the test runs.
func countSegmented(t *testing.T) (calls *atomic.Int64) {
	calls = new(atomic.Int64)
	orig := segmentedSend
	segmentedSend = func(c *net.UDPConn, buf []byte, seg int, a netip.AddrPort) error {
		calls.Add(1)
		return orig(c, buf, seg, a)
	}
	t.Cleanup(func() { segmentedSend = orig })
	return calls
}

// TestBatchConnHeld: datagrams written to a held peer leave at Flush,
// each whole and in order, whatever the runs of lengths (a keyframe's
// packets: one short, many of one size, a shorter last; more than one
// segmented send holds), with segmentation where the kernel has it and
// one by one where it does not.
func TestBatchConnHeld(t *testing.T) {
	lens := []int{40, 1200}
	for range 130 {
		lens = append(lens, 1250)
	}
	lens = append(lens, 700, 1250, 1250, 1250, 90, 90, 1300, 12)
	for _, gso := range []bool{true, false} {
		t.Run(fmt.Sprint("gso=", gso), func(t *testing.T) {
			c, r := udpPair(t)
			if gso && !c.gso.Load() {
				if runtime.GOOS == "linux" && os.Getenv("CI") != "" {
					t.Fatal("this Linux kernel has no UDP_SEGMENT")
				}
				t.Skip("no UDP segmentation offload here")
			}
			c.gso.Store(gso)
			calls := countSegmented(t)
			dst := r.LocalAddr().(*net.UDPAddr).AddrPort()
			c.Hold(dst)
			for i, n := range lens {
				if k, err := c.WriteToAddrPort(datagram(i, n), dst); err != nil || k != n {
					t.Fatalf("write %d: %d, %v", i, k, err)
				}
			}
			if got := receive(t, r, 1, 50*time.Millisecond); len(got) != 0 {
				t.Fatalf("%d datagram(s) arrived before Flush", len(got))
			}
			c.Flush(dst)
			got := receive(t, r, len(lens), 2*time.Second)
			if len(got) != len(lens) {
				t.Fatalf("received %d datagrams of %d", len(got), len(lens))
			}
			for i, n := range lens {
				if !bytes.Equal(got[i], datagram(i, n)) {
					t.Fatalf("datagram %d: %d bytes, want %d (index %d)", i, len(got[i]), n, int(got[i][0])<<8|int(got[i][1]))
				}
			}
			// Segmented: 130 × 1250 as 52 (64 KiB), 52, and 26 with the
			// 700; 3 × 1250 with a 90; 1300 with the 12. The 40, the 1200
			// (longer than the 40) and the other 90 go alone.
			want := int64(0)
			if gso {
				want = 5
			}
			if calls.Load() != want {
				t.Errorf("%d segmented sends, want %d", calls.Load(), want)
			}
			// Nothing held any more: the next write goes straight out.
			if _, err := c.WriteToAddrPort(datagram(7, 10), dst); err != nil {
				t.Fatal(err)
			}
			if got := receive(t, r, 1, 2*time.Second); len(got) != 1 || !bytes.Equal(got[0], datagram(7, 10)) {
				t.Fatalf("after Flush: %d datagram(s)", len(got))
			}
		})
	}
}

// TestBatchConnNested: two holds of one peer (two sessions of one remote
// socket): what they held leaves at the last Flush, in order; a write
// to the peer meanwhile is held behind; another peer's datagrams are
// never held; once all is sent the peer is forgotten.
func TestBatchConnNested(t *testing.T) {
	c, r := udpPair(t)
	_, other := udpPair(t)
	dst := r.LocalAddr().(*net.UDPAddr).AddrPort()
	dst2 := other.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Hold(dst)
	c.Hold(netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())) // the same peer, 4-in-6
	write := func(i int, to netip.AddrPort) {
		if _, err := c.WriteToAddrPort(datagram(i, 500), to); err != nil {
			t.Fatal(err)
		}
	}
	write(0, dst)
	write(1, dst)
	write(9, dst2)
	if got := receive(t, other, 1, time.Second); len(got) != 1 {
		t.Fatal("a peer not held: its datagram did not go straight out")
	}
	c.Flush(dst)
	write(2, dst)
	var sent atomic.Bool
	c.Sent(dst, func() { sent.Store(true) })
	ranAtOnce := false
	c.Sent(dst2, func() { ranAtOnce = true }) // nothing of dst2 waits
	if !ranAtOnce {
		t.Fatal("Sent of a peer with nothing waiting did not run at once")
	}
	if got := receive(t, r, 1, 50*time.Millisecond); len(got) != 0 || sent.Load() {
		t.Fatalf("still held by the second holder: %d datagram(s) out, Sent ran %v", len(got), sent.Load())
	}
	c.Flush(dst)
	got := receive(t, r, 3, time.Second)
	if len(got) != 3 {
		t.Fatalf("after the last Flush: %d datagram(s)", len(got))
	}
	for i, g := range got {
		if !bytes.Equal(g, datagram(i, 500)) {
			t.Fatalf("datagram %d out of order or changed", i)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); !sent.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the held datagrams were sent, Sent's function did not run")
		}
	}
	c.Flush(dst) // not held: nothing
	for deadline := time.Now().Add(2 * time.Second); c.holding.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("all sent, %d peer(s) still kept", c.holding.Load())
		}
	}
}

// TestBatchConnOrderBehindQueued: a write to a peer whose held datagrams
// the sender has not sent yet waits behind them (the sender is kept busy
// by a large batch to another peer), so the peer gets all in order.
func TestBatchConnOrderBehindQueued(t *testing.T) {
	c, r := udpPair(t)
	_, big := udpPair(t)
	dst := r.LocalAddr().(*net.UDPAddr).AddrPort()
	bigDst := big.LocalAddr().(*net.UDPAddr).AddrPort()
	for round := range 20 {
		c.Hold(bigDst)
		for i := range 200 {
			if _, err := c.WriteToAddrPort(datagram(i, 1200), bigDst); err != nil {
				t.Fatal(err)
			}
		}
		c.Flush(bigDst)
		c.Hold(dst)
		for i := 1; i < 5; i++ {
			if _, err := c.WriteToAddrPort(datagram(round*10+i, 300), dst); err != nil {
				t.Fatal(err)
			}
		}
		c.Flush(dst)
		// The next unit's first packet, at once: not before the others.
		if _, err := c.WriteToAddrPort(datagram(round*10+5, 300), dst); err != nil {
			t.Fatal(err)
		}
		got := receive(t, r, 5, 2*time.Second)
		if len(got) != 5 {
			t.Fatalf("round %d: %d datagrams of 5", round, len(got))
		}
		for i, g := range got {
			if !bytes.Equal(g, datagram(round*10+i+1, 300)) {
				t.Fatalf("round %d: datagram %d out of order", round, i)
			}
		}
		receive(t, big, 200, 2*time.Second)
	}
}

// TestBatchConnConcurrent: writers to many peers, held and not, at once
// (run with -race); every peer gets its datagrams in order.
func TestBatchConnConcurrent(t *testing.T) {
	c, _ := udpPair(t)
	const peers, units, per = 8, 40, 12
	rs := make([]*net.UDPConn, peers)
	for i := range rs {
		_, rs[i] = udpPair(t)
	}
	var wg sync.WaitGroup
	for p := range peers {
		dst := rs[p].LocalAddr().(*net.UDPAddr).AddrPort()
		wg.Go(func() {
			for u := range units {
				if p%2 == 0 {
					c.Hold(dst)
				}
				for k := range per {
					if _, err := c.WriteToAddrPort(datagram(u*per+k, 300+p), dst); err != nil {
						t.Error(err)
					}
				}
				if p%2 == 0 {
					c.Flush(dst)
				}
			}
		})
	}
	wg.Wait()
	for p, r := range rs {
		got := receive(t, r, units*per, 2*time.Second)
		if len(got) != units*per {
			t.Fatalf("peer %d: %d datagrams of %d", p, len(got), units*per)
		}
		for i, g := range got {
			if !bytes.Equal(g, datagram(i, 300+p)) {
				t.Fatalf("peer %d: datagram %d out of order or changed", p, i)
			}
		}
	}
}

// BenchmarkBatchConn sends a keyframe's packets (50 of 1250 bytes) to a
// peer on loopback: one by one, and held then flushed (segmented where the
// kernel offers it). ns/op is per keyframe and includes the kernel's
// delivery to the receiving socket (loopback does it in the sender's
// system call).
func BenchmarkBatchConn(b *testing.B) {
	for _, held := range []bool{false, true} {
		b.Run(fmt.Sprint("held=", held), func(b *testing.B) {
			c, r := udpPair(b)
			go func() {
				buf := make([]byte, 2000)
				for {
					if _, _, err := r.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
				}
			}()
			dst := r.LocalAddr().(*net.UDPAddr).AddrPort()
			pkt := make([]byte, 1250)
			b.SetBytes(50 * 1250)
			for b.Loop() {
				if held {
					c.Hold(dst)
				}
				for range 50 {
					if _, err := c.WriteToAddrPort(pkt, dst); err != nil {
						b.Fatal(err)
					}
				}
				if held {
					c.Flush(dst)
				}
			}
		})
	}
}
