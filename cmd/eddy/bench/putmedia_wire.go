package bench

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// The bench times each Cluster on the wire, not from the producer's
// callbacks: the producers' HTTP client wraps every PutMedia request body
// and follows the Matroska elements in the bytes the HTTP transport reads
// from it (each read is sent on at once: the request body is chunked and
// flushed per chunk). So it knows, per connection, when each Cluster's
// first and last byte left, and when its end became knowable to the
// server: its last byte for a Cluster of known size; the first byte of
// the next top-level element (the next Cluster) for one of unknown size.

// pmTransport numbers the producer's PutMedia requests (one per
// connection: the producer opens the next only after the acks of the
// previous have ended) and wraps their bodies in a clusterScan.
type pmTransport struct {
	base http.RoundTripper
	p    *pmProducer
}

func (t pmTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !strings.HasSuffix(req.URL.Path, "/putMedia") {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Body = &scanBody{ReadCloser: req.Body, s: &clusterScan{p: t.p, conn: t.p.newConnection()}}
	return t.base.RoundTrip(r)
}

// scanBody feeds what the transport reads to its clusterScan.
type scanBody struct {
	io.ReadCloser
	s *clusterScan
}

func (b *scanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	now := time.Now()
	b.s.feed(p[:n], now)
	if err != nil {
		b.s.close(now)
	}
	return n, err
}

// Matroska element IDs the scan tells apart.
const (
	ebmlIDHeader    = 0x1A45DFA3
	ebmlIDSegment   = 0x18538067
	ebmlIDCluster   = 0x1F43B675
	ebmlIDTimestamp = 0xE7
)

// segmentChildren are the top-level elements of a Segment other than a
// Cluster: one of them ends a Cluster of unknown size, as the next Cluster
// does.
var segmentChildren = map[uint64]bool{
	0x114D9B74: true, 0x1549A966: true, 0x1654AE6B: true, 0x1C53BB6B: true, // SeekHead Info Tracks Cues
	0x1254C367: true, 0x1043A770: true, 0x1941A469: true, // Tags Chapters Attachments
}

// clusterScan follows the elements of one PutMedia request body and
// reports each Cluster to its producer: clusterStarted when its Timestamp
// has been read, clusterEnded when it has ended.
type clusterScan struct {
	p    *pmProducer
	conn int

	hdr   []byte    // an element header (ID and size) being read
	hdrAt time.Time // when its first byte was read
	skip  int64     // payload bytes to pass over
	tsLen int       // >0: reading a Cluster Timestamp of this many bytes into ts
	ts    []byte

	cur     *pmCluster // the Cluster being read
	curLeft int64      // its payload bytes still to come; -1: unknown size
	curLast time.Time  // when its last byte so far was read
}

// feed takes the bytes b, read at at.
func (s *clusterScan) feed(b []byte, at time.Time) {
	for len(b) > 0 {
		switch {
		case s.skip > 0:
			n := int(min(s.skip, int64(len(b))))
			s.skip -= int64(n)
			b = b[n:]
			s.consumed(n, at)
		case s.tsLen > 0:
			n := min(s.tsLen-len(s.ts), len(b))
			s.ts = append(s.ts, b[:n]...)
			b = b[n:]
			s.consumed(n, at)
			if len(s.ts) == s.tsLen {
				var tc uint64
				for _, c := range s.ts {
					tc = tc<<8 | uint64(c)
				}
				s.tsLen, s.ts = 0, s.ts[:0]
				if s.cur != nil && !s.cur.hasTC {
					s.p.clusterStarted(s.cur, int64(tc))
				}
			}
		default:
			if len(s.hdr) == 0 {
				s.hdrAt = at
			}
			s.hdr = append(s.hdr, b[0])
			b = b[1:]
			id, size, unknown, ok := parseElementHeader(s.hdr)
			if !ok {
				continue
			}
			n := len(s.hdr)
			s.hdr = s.hdr[:0]
			s.element(id, size, unknown, n, at)
		}
	}
}

// element handles an element header of n bytes read (its last byte at
// at).
func (s *clusterScan) element(id uint64, size int64, unknown bool, n int, at time.Time) {
	topLevel := id == ebmlIDCluster || id == ebmlIDHeader || id == ebmlIDSegment || segmentChildren[id]
	if topLevel && s.cur != nil && s.curLeft < 0 {
		// The end of a Cluster of unknown size: known to the server when
		// this element's first byte arrives.
		s.end(s.hdrAt)
	}
	switch id {
	case ebmlIDCluster:
		s.cur = &pmCluster{conn: s.conn, first: s.hdrAt, unknown: unknown}
		s.curLeft, s.curLast = size, at
		if unknown {
			s.curLeft = -1
		}
		if !unknown && size == 0 {
			s.end(at)
		}
		return
	case ebmlIDSegment:
		return // its children follow
	}
	s.consumed(n, at)
	switch {
	case id == ebmlIDTimestamp && s.cur != nil && size > 0 && size <= 8:
		s.tsLen = int(size)
	case !unknown:
		s.skip = size
	}
}

// consumed counts n bytes read at at inside the current Cluster, if any.
func (s *clusterScan) consumed(n int, at time.Time) {
	if s.cur == nil {
		return
	}
	s.curLast = at
	if s.curLeft > 0 {
		s.curLeft -= int64(n)
		if s.curLeft <= 0 {
			s.end(at)
		}
	}
}

// end reports the current Cluster as ended, knowably to the server at
// end.
func (s *clusterScan) end(end time.Time) {
	s.p.clusterEnded(s.cur, s.curLast, end)
	s.cur = nil
}

// close ends the body: a Cluster of unknown size still open ends with it.
func (s *clusterScan) close(at time.Time) {
	if s.cur != nil && s.curLeft < 0 {
		s.end(at)
	}
	s.cur = nil
}

// parseElementHeader parses an EBML element ID and data size from b; ok
// is false until b holds both.
func parseElementHeader(b []byte) (id uint64, size int64, unknown, ok bool) {
	idLen := vintLen(b[0])
	if idLen == 0 || idLen > 4 {
		return 0, 0, false, true // not an element ID: pass the byte over
	}
	if len(b) < idLen+1 {
		return 0, 0, false, false
	}
	for _, c := range b[:idLen] {
		id = id<<8 | uint64(c)
	}
	sl := vintLen(b[idLen])
	if sl == 0 || len(b) < idLen+sl {
		return id, 0, false, sl == 0
	}
	v := uint64(b[idLen]) & (0xFF >> sl)
	all := v == 0xFF>>sl
	for _, c := range b[idLen+1 : idLen+sl] {
		v = v<<8 | uint64(c)
		all = all && c == 0xFF
	}
	return id, int64(v), all, true
}

// vintLen is the length of an EBML variable-size integer from its first
// byte (0: invalid).
func vintLen(c byte) int {
	for i := range 8 {
		if c&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 0
}
