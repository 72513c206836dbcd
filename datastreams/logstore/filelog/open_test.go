package filelog

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bytesRead returns the bytes this process has read through read(2) and
// pread(2) so far (Linux's /proc/self/io rchar, page cache hits
// included), or false where the kernel does not tell.
func bytesRead() (int64, bool) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// longLogDir makes the directory of a long log: n sealed segments of an
// hour of 2-second fragments each (a ten-year log has 87,600), each with
// an index of points entries, and an empty active segment. The segment
// files are sparse: Open reads no byte of a sealed segment.
func longLogDir(tb testing.TB, n, points int) string {
	tb.Helper()
	dir := tb.TempDir()
	const recs, segSize = 1800, 900 << 20 // 1 h at 2 Mbit/s
	t0 := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hour := int64(time.Hour)
	for i := range n {
		base := uint64(1 + i*recs)
		s := &segment{base: base, next: base + recs, size: segSize,
			firstTime: t0 + int64(i)*hour, lastTime: t0 + int64(i+1)*hour - int64(2*time.Second)}
		s.index = make([]indexEntry, points)
		for j := range s.index {
			s.index[j] = indexEntry{seq: base + uint64(j*recs/points), time: s.firstTime + int64(j)*hour/int64(points),
				pos: segmentHeaderSize + int64(j)*(segSize/int64(points))}
		}
		path := segmentPath(dir, base)
		f, err := os.Create(path)
		if err == nil {
			_, err = f.Write(encodeSegmentHeader(base, s.firstTime))
		}
		if err == nil {
			err = f.Truncate(segSize)
		}
		if err == nil {
			err = f.Close()
		}
		if err == nil {
			err = os.WriteFile(indexPath(path), encodeIndex(s), 0o644)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	base := uint64(1 + n*recs)
	if err := os.WriteFile(segmentPath(dir, base), encodeSegmentHeader(base, t0+int64(n)*hour), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// BenchmarkOpen10kSegments opens a log of 10,000 sealed one-hour
// segments (over a year of one camera) whose indexes have one point per
// 2-second fragment (43 KB each, 432 MB in all, in the page cache), and
// reports the bytes read per Open.
func BenchmarkOpen10kSegments(b *testing.B) {
	dir := longLogDir(b, 10000, 1800)
	read0, counted := bytesRead()
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if first, next := l.Bounds(); first != 1 || next != 1+10000*1800 {
			b.Fatalf("log %d..%d", first, next)
		}
		l.Close()
	}
	if read1, ok := bytesRead(); counted && ok {
		b.ReportMetric(float64(read1-read0)/float64(b.N), "read-B/op")
	}
}
