package datastreams

import (
	"encoding/json"
	"testing"
)

// The logs of video streams and their event streams live on the core but
// are not data streams: they do not count against the shard limit, and
// their extension metadata survives a restart.
func TestVideoKindsOnTheCore(t *testing.T) {
	dir := t.TempDir()
	c := &Core{Dir: dir, ShardLimit: 2}
	if err := c.Initialize(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"cam1", "cam2", "cam3"} {
		if _, err := c.CreateStream(n, CreateOptions{ShardCount: 1, Kind: StreamKindVideo, Ext: json.RawMessage(`{"v":1}`)}); err != nil {
			t.Fatalf("video stream %s: %v", n, err)
		}
	}
	if _, err := c.CreateStream("data", CreateOptions{ShardCount: 2}); err != nil {
		t.Fatalf("data stream within the limit: %v", err)
	}
	if _, err := c.CreateStream("more", CreateOptions{ShardCount: 1}); err == nil {
		t.Fatal("data stream beyond the shard limit accepted")
	}
	c.Close()
	c2 := &Core{Dir: dir}
	if err := c2.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s, err := c2.Stream("cam2")
	if err != nil {
		t.Fatal(err)
	}
	var ext struct{ V int }
	if err := json.Unmarshal(s.Ext(), &ext); err != nil || s.Kind() != StreamKindVideo || ext.V != 1 {
		t.Fatalf("after reopen: kind %q ext %s", s.Kind(), s.Ext())
	}
}
