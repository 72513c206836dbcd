package datastreams

import (
	"errors"
	"os"
	"testing"
)

// TestDeleteHooks: BeforeDeleteDir is told before the commit (its error
// fails the delete and changes nothing), AfterDeleteDir after it, with
// whether it happened.
func TestDeleteHooks(t *testing.T) {
	dir := t.TempDir()
	c := openCore(t, dir)
	defer c.Close()
	type call struct {
		hook, dir string
		deleted   bool
		exists    bool // the stream's directory, when the hook ran
	}
	var calls []call
	var refuse, failRename bool
	c.BeforeDeleteDir = func(d string) error {
		_, err := os.Stat(d)
		calls = append(calls, call{"before", d, false, err == nil})
		if refuse {
			return errors.New("journal refused")
		}
		return nil
	}
	c.AfterDeleteDir = func(d string, deleted bool) {
		_, err := os.Stat(d)
		calls = append(calls, call{"after", d, deleted, err == nil})
	}
	c.failpoint = func(step string) error {
		if failRename && step == "delete.rename" {
			return errors.New("injected")
		}
		return nil
	}
	s, err := c.CreateStream("s", CreateOptions{ShardCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	putOne(t, s, "a")
	sdir := s.Dir()

	refuse = true
	if err := c.DeleteStream("s", false); err == nil || KindOf(err) != KindInternal {
		t.Fatalf("delete refused by BeforeDeleteDir: %v", err)
	}
	if len(calls) != 1 || calls[0] != (call{"before", sdir, false, true}) {
		t.Fatalf("hooks %+v", calls)
	}
	putOne(t, s, "b")
	if got := readAll(t, s); got != "a,b" {
		t.Fatalf("after a refused delete: %q", got)
	}

	refuse, failRename, calls = false, true, nil
	if err := c.DeleteStream("s", false); err == nil {
		t.Fatal("delete with a failing rename: no error")
	}
	want := []call{{"before", sdir, false, true}, {"after", sdir, false, true}}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Fatalf("hooks %+v, want %+v", calls, want)
	}

	failRename, calls = false, nil
	if err := c.DeleteStream("s", false); err != nil {
		t.Fatal(err)
	}
	want = []call{{"before", sdir, false, true}, {"after", sdir, true, false}}
	if len(calls) != 2 || calls[0] != want[0] || calls[1] != want[1] {
		t.Fatalf("hooks %+v, want %+v", calls, want)
	}
}
