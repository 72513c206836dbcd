package tier

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
)

// tenYears is the longest retention Eddy offers: 87600 h.
const tenYears = 87600 * time.Hour

// retentionRun records into a log with 1-hour segments on a fake clock
// for span, a record each every, trimming to retention each trimEvery
// and flushing the tier each flushEvery; after each flush it checks that
// no object outlives its segment's retention by more than trimEvery and
// that the objects are bounded. It returns the most objects seen.
func retentionRun(t *testing.T, b objstore.Bucket, keys func() []string, span, retention, every, trimEvery, flushEvery time.Duration) int {
	ctx := context.Background()
	root, clock := t.TempDir(), newFakeClock()
	tr := newTier(t, b, root, clock, nil) // hot 0: local disk keeps only indexes
	l, err := filelog.Open(filepath.Join(root, filepath.FromSlash(shard0)), filelog.Options{
		SegmentDuration: time.Hour, Now: clock.Now, Cold: tr,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	maxObjs, seq := 0, uint64(1)
	// Sealed segments span at most one interval between records (one
	// record each): retention/every segments at most, plus what one trim
	// period adds, two keys each.
	bound := 2 * int((retention+trimEvery+flushEvery)/every+2)
	lastTrim, lastFlush := start, start
	for clock.Now().Sub(start) < span {
		now := clock.Now()
		r := logstore.Record{Seq: seq, Time: now.UnixNano(), Data: []byte(strconv.FormatUint(seq, 10))}
		if err := l.Append([]logstore.Record{r}); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(false); err != nil {
			t.Fatal(err)
		}
		seq++
		if now.Sub(lastTrim) >= trimEvery {
			lastTrim = now
			if _, _, err := l.Trim(now.Add(-retention).UnixNano(), 0); err != nil {
				t.Fatal(err)
			}
		}
		if now.Sub(lastFlush) >= flushEvery {
			lastFlush = now
			if err := tr.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			objs := keys()
			maxObjs = max(maxObjs, len(objs))
			if len(objs) > bound {
				t.Fatalf("%v in: %d objects, bound %d", now.Sub(start), len(objs), bound)
			}
			// The oldest object's segment is within retention (one trim
			// period of slack).
			oldest := now.Add(-retention - trimEvery - every)
			for _, k := range objs {
				base, ok := parseBase(k[strings.LastIndexByte(k, '/')+1:])
				if !ok {
					continue
				}
				tm := start.Add(time.Duration(base-1) * every)
				if tm.Before(oldest) {
					t.Fatalf("%v in: object %s of a record from %v kept past retention", now.Sub(start), k, now.Sub(tm))
				}
				break // keys sort by base: the first is the oldest
			}
		}
		clock.Add(every)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Sealed() {
		if s.Local {
			t.Fatalf("segment %d still local with a 0 hot time", s.Base)
		}
	}
	// The newest records read back (cold) after all this.
	_, next := l.Bounds()
	recs, err := l.Read(next-3, 3, 1<<20)
	if err != nil || len(recs) != 3 || string(recs[2].Data) != strconv.FormatUint(next-1, 10) {
		t.Fatalf("read the newest records: %v %v", recs, err)
	}
	ents, _ := os.ReadDir(l.Dir())
	if len(ents) > bound+10 {
		t.Fatalf("%d files in the log directory", len(ents))
	}
	return maxObjs
}

// TestTenYearRetention: ten years and a half of records on a fake clock
// with 1-hour segments and a ten-year retention (a map bucket): objects
// go on time and their count stays bounded. A record a week keeps it
// quick (a segment each: every roll, upload record and trim is synced to
// disk); EDDY_TEN_YEARS_HOURLY=1 records every hour (87600 segments
// kept; long).
func TestTenYearRetention(t *testing.T) {
	every := 7 * 24 * time.Hour
	if os.Getenv("EDDY_TEN_YEARS_HOURLY") != "" {
		every = time.Hour
	} else if testing.Short() {
		t.Skip("long")
	}
	b := newMemBucket()
	most := retentionRun(t, b, b.keys, tenYears+4380*time.Hour, tenYears, every, 24*time.Hour, 28*24*time.Hour)
	if want := int(tenYears / every); most < 2*want-10 {
		t.Fatalf("at most %d objects: retention not reached (%d segments expected)", most, want)
	}
	t.Logf("at most %d objects", most)
}

// TestE2ERetention: the same over versitygw, shorter: 20 days of hourly
// records with a 7-day retention.
func TestE2ERetention(t *testing.T) {
	srv := objstoretest.Start(t)
	b := srv.Bucket()
	keys := func() []string { return listAll(t, b) }
	most := retentionRun(t, b, keys, 20*24*time.Hour, 7*24*time.Hour, time.Hour, 24*time.Hour, 2*24*time.Hour)
	if want := 7 * 24; most < 2*want {
		t.Fatalf("at most %d objects: retention not reached (%d segments expected)", most, want)
	}
	t.Logf("at most %d objects", most)
}
