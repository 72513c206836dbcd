package datastreams

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/memlog"
)

// TestCoreOnMemLog swaps the storage under the core: a stream's records
// are put, read and trimmed by retention through memlog, and no segment
// file is written.
func TestCoreOnMemLog(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	opened := 0
	c := &Core{Dir: t.TempDir(), Now: clk.Now, OpenLog: func(string) (logstore.Log, error) {
		opened++
		return memlog.New(), nil
	}}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateStream("mem", CreateOptions{ShardCount: 2, Mode: ModeOnDemand, RetentionHours: MinLogRetentionHours})
	if err != nil {
		t.Fatal(err)
	}
	if opened != 2 {
		t.Fatalf("OpenLog called %d times for 2 shards", opened)
	}
	put := func(n int) {
		t.Helper()
		entries := make([]PutEntry, n)
		for i := range entries {
			entries[i] = PutEntry{Key: []byte(fmt.Sprint("pk-", i)), Data: []byte(fmt.Sprint("data-", i))}
		}
		res, err := s.Put(entries)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Err != nil || r.Seq == 0 {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
	}
	put(50)
	clk.Advance(2 * time.Hour)
	put(10)

	readAll := func() int {
		t.Helper()
		n := 0
		for i := 0; i < 2; i++ {
			sh, err := s.Shard(i)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Read(sh, 0, 1000, 1<<20, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				if string(r.Data[:5]) != "data-" {
					t.Fatalf("shard %d record %d: %q", i, r.Seq, r.Data)
				}
			}
			n += len(res.Records)
		}
		return n
	}
	if n := readAll(); n != 60 {
		t.Fatalf("read %d records, want 60", n)
	}
	// The first 50 are older than the 1-hour retention: they go, the
	// last 10 stay, and sequence numbers keep counting.
	recs, _, err := s.EnforceRetention()
	if err != nil || recs != 50 {
		t.Fatalf("retention trimmed %d records (%v), want 50", recs, err)
	}
	if n := readAll(); n != 10 {
		t.Fatalf("after retention read %d records, want 10", n)
	}
	for _, si := range s.Info().Shards {
		if si.FirstLogSeq == 1 && si.NextLogSeq > 1 {
			t.Fatalf("shard %s still starts at 1 after retention: %+v", si.ID, si)
		}
	}
	_ = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if filepath.Ext(p) == ".seg" {
			t.Errorf("segment file %s written by a memlog core", p)
		}
		return nil
	})
}
