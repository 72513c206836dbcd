package tier

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/logstore"
	"github.com/eddy-video/eddy/datastreams/logstore/filelog"
	"github.com/eddy-video/eddy/datastreams/objstore/objstoretest"
)

// TestE2ECoreDeleteStream: a core whose logs tier to versitygw, with the
// delete hooks wired to the tier: deleting a stream deletes its objects
// (and only its).
func TestE2ECoreDeleteStream(t *testing.T) {
	srv := objstoretest.Start(t)
	b := srv.Bucket()
	ctx := context.Background()
	dir, clock := t.TempDir(), newFakeClock()
	tr := e2eTier(t, b, dir, clock, nil)
	c := &datastreams.Core{
		Dir: dir, WrittenBy: "eddy test", Now: clock.Now,
		OpenLog: func(d string) (logstore.Log, error) {
			return filelog.Open(d, filelog.Options{SegmentBytes: 1024, Now: clock.Now, Cold: tr})
		},
		BeforeDeleteDir: tr.DeletingDir,
		AfterDeleteDir:  tr.DeletedDir,
	}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := startWait(tr, ctx); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, name := range []string{"gone", "kept"} {
		s, err := c.CreateStream(name, datastreams.CreateOptions{ShardCount: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			res, err := s.Put([]datastreams.PutEntry{{Key: []byte{byte(i)}, Data: []byte(strings.Repeat("x", 200))}})
			if err != nil || res[0].Err != nil {
				t.Fatalf("put: %v %v", err, res)
			}
			clock.Add(time.Second)
		}
		dirs = append(dirs, s.Dir())
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	prefix := func(d string) string {
		r, _ := filepath.Rel(dir, d)
		return filepath.ToSlash(r) + "/"
	}
	count := func(p string) (n int) {
		for _, k := range listAll(t, b) {
			if strings.HasPrefix(k, p) {
				n++
			}
		}
		return n
	}
	if count(prefix(dirs[0])) < 4 || count(prefix(dirs[1])) < 4 {
		t.Fatalf("objects: %v", listAll(t, b))
	}
	kept := count(prefix(dirs[1]))
	if err := c.DeleteStream("gone", false); err != nil {
		t.Fatal(err)
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(prefix(dirs[0])); n != 0 {
		t.Fatalf("%d objects of the deleted stream left", n)
	}
	if n := count(prefix(dirs[1])); n != kept {
		t.Fatalf("the other stream has %d objects, had %d", n, kept)
	}
	if u := tr.Usage(dirs[1]); u.BucketBytes == 0 {
		t.Fatalf("usage of the kept stream: %+v", u)
	}
}
