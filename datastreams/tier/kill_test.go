package tier

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
)

// The kill -9 test runs the tier in a child process (this test binary,
// TestE2EKillChild) that appends, trims and uploads until it is killed.
const (
	killEnvDir    = "EDDY_TIER_KILL_DIR"
	killEnvBucket = "EDDY_TIER_KILL_BUCKET"
	killKeepBytes = 24 << 10 // size retention of the child's log
	killSegBytes  = 2048
)

// killRecord is the record of sequence seq.
func killRecord(seq uint64) []byte {
	return []byte(strings.Repeat(strconv.FormatUint(seq, 10)+" ", 20))
}

// TestE2EKillChild is the child: it does nothing unless started by
// TestE2EKill9.
func TestE2EKillChild(t *testing.T) {
	dir := os.Getenv(killEnvDir)
	if dir == "" {
		t.Skip("the child of TestE2EKill9")
	}
	var cfg objstore.Config
	if err := json.Unmarshal([]byte(os.Getenv(killEnvBucket)), &cfg); err != nil {
		t.Fatal(err)
	}
	b, err := objstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{Bucket: b, Root: dir, Interval: 2 * time.Millisecond, Uploads: 2})
	if err != nil {
		t.Fatal(err)
	}
	l, err := filelog.Open(filepath.Join(dir, filepath.FromSlash(shard0)), filelog.Options{SegmentBytes: killSegBytes, IndexEvery: 256, Cold: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewWriter(os.Stdout)
	_, next := l.Bounds()
	for seq := next; ; seq++ {
		r := logstore.Record{Seq: seq, Time: time.Now().UnixNano(), Data: killRecord(seq)}
		if err := l.Append([]logstore.Record{r}); err != nil {
			t.Fatal(err)
		}
		if err := l.Commit(true); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(out, "ack %d\n", seq)
		_ = out.Flush()
		if seq%20 == 0 {
			if _, _, err := l.Trim(0, killKeepBytes); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestE2EKill9: the tier killed with SIGKILL at random moments, again and
// again, while it uploads, drops local copies and deletes trimmed
// segments' objects: no acknowledged record within retention is lost,
// and after the next start and retention pass the bucket holds exactly
// the objects of the log's segments (no orphan, no duplicate).
func TestE2EKill9(t *testing.T) {
	if os.Getenv(killEnvDir) != "" {
		t.Skip("in the child")
	}
	srv := objstoretest.Start(t)
	cfg, _ := json.Marshal(srv.Config())
	dir := t.TempDir()
	acked := uint64(0)
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestE2EKillChild$", "-test.v")
		cmd.Env = append(os.Environ(), killEnvDir+"="+dir, killEnvBucket+"="+string(cfg))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if s, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
					if n, err := strconv.ParseUint(s, 10, 64); err == nil && n > acked {
						acked = n
					}
				}
			}
		}()
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-done
		_ = cmd.Wait()
		t.Logf("round %d: killed after record %d", round, acked)
	}
	if acked < 100 {
		t.Fatalf("only %d records acknowledged: the child did not run", acked)
	}

	ctx := context.Background()
	b := srv.Bucket()
	tr, err := New(Config{Bucket: b, Root: dir, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	l, err := filelog.Open(filepath.Join(dir, filepath.FromSlash(shard0)), filelog.Options{SegmentBytes: killSegBytes, IndexEvery: 256, Cold: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Trim(0, killKeepBytes); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	first, next := l.Bounds()
	if next <= acked {
		t.Fatalf("log ends at %d, %d was acknowledged", next, acked)
	}
	recs := readAll(t, l)
	for i, r := range recs {
		if r.Seq != first+uint64(i) || string(r.Data) != string(killRecord(r.Seq)) {
			t.Fatalf("record %d: seq %d %q", first+uint64(i), r.Seq, r.Data)
		}
	}
	var want []string
	for _, s := range l.Sealed() {
		if s.Uploaded == nil {
			t.Fatalf("segment %d not uploaded after Flush", s.Base)
		}
		want = append(want, idxKey(shard0, s.Base), segKey(shard0, s.Base))
	}
	slices.Sort(want)
	if got := listAll(t, b); !slices.Equal(got, want) {
		t.Fatalf("objects:\n%q\nwant those of the log's segments:\n%q", got, want)
	}
	t.Logf("%d records acknowledged, %d kept from %d, %d segments", acked, len(recs), first, len(want)/2)
}
