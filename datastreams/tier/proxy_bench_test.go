package tier_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// delayProxy is a TCP proxy between an S3 client and the server that
// delays every byte by delay in each direction (so a request and its
// answer take 2×delay more: the round trip of a distant store) without
// limiting bandwidth, and counts the HTTP requests going through it by
// method and path (parsed from the client's side of each connection).
type delayProxy struct {
	ln       net.Listener
	upstream string
	delay    time.Duration

	mu    sync.Mutex
	reqs  map[string]int // "GET /bucket/key" → count
	conns []net.Conn
	wg    sync.WaitGroup
}

// startDelayProxy listens on a loopback port and forwards to upstream
// (host:port) until the benchmark ends.
func startDelayProxy(tb testing.TB, upstream string, delay time.Duration) *delayProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &delayProxy{ln: ln, upstream: upstream, delay: delay, reqs: map[string]int{}}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(p.close)
	return p
}

// URL is the proxy's endpoint (an objstore.Config's Endpoint).
func (p *delayProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Requests returns how many requests with this method went to a path
// that contains sub.
func (p *delayProxy) Requests(method, sub string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, c := range p.reqs {
		m, path, _ := strings.Cut(k, " ")
		if m == method && strings.Contains(path, sub) {
			n += c
		}
	}
	return n
}

func (p *delayProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *delayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.upstream)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		// The client's bytes also go to a parser that counts requests.
		pr, pw := io.Pipe()
		p.wg.Add(3)
		go func() {
			defer p.wg.Done()
			p.pump(u, c, pw)
			_ = pw.Close()
		}()
		go func() {
			defer p.wg.Done()
			p.pump(c, u, nil)
		}()
		go func() {
			defer p.wg.Done()
			p.count(pr)
		}()
	}
}

// pump copies src to dst, each chunk written delay after it was read
// (chunks read meanwhile queue behind it, so bandwidth is not limited),
// and tees what it read to tee when set. When src ends it closes dst's
// write side (or dst) so the other end sees it.
func (p *delayProxy) pump(dst, src net.Conn, tee *io.PipeWriter) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	q := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ch := range q {
			if d := time.Until(ch.at); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(ch.b); err != nil {
				_ = src.Close()
				for range q { // drain, so the reader never blocks
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}()
	for {
		b := make([]byte, 64<<10)
		n, err := src.Read(b)
		if n > 0 {
			if tee != nil {
				if _, werr := tee.Write(b[:n]); werr != nil {
					tee = nil
				}
			}
			q <- chunk{b: b[:n], at: time.Now().Add(p.delay)}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
}

// count parses the requests of one connection and counts them.
func (p *delayProxy) count(r *io.PipeReader) {
	br := bufio.NewReader(r)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			_ = r.CloseWithError(err)
			_, _ = io.Copy(io.Discard, br)
			return
		}
		p.mu.Lock()
		p.reqs[req.Method+" "+req.URL.Path]++
		p.mu.Unlock()
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
}
