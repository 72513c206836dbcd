package fragments_test

import (
	"testing"
	"time"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
)

// TestUnpublishedDeletesOnlyEmptyAutoCreated: a stream Admit created goes
// again when the last publication let in on it ends having published
// nothing, and only then: not while another one is on it, not after one
// published, not once it holds a fragment or was changed through the API,
// and never a stream Admit did not create.
func TestUnpublishedDeletesOnlyEmptyAutoCreated(t *testing.T) {
	clk := datastreamstest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	_, m := fragmentstest.NewManager(t, t.TempDir(), clk, 0)
	m.AutoCreate = true
	exists := func(name string) bool {
		_, err := m.Describe(name)
		return err == nil
	}
	admit := func(name string) {
		t.Helper()
		if err := m.Admit(name, nil); err != nil {
			t.Fatal(err)
		}
	}

	admit("refused")
	m.Unpublished("refused", false)
	if exists("refused") {
		t.Error("a stream created for a publish that sent nothing stayed")
	}

	admit("takeover") // a second publication admitted before the first ended
	admit("takeover")
	m.Unpublished("takeover", false)
	if !exists("takeover") {
		t.Fatal("deleted while a publication is still on it")
	}
	m.Unpublished("takeover", false)
	if exists("takeover") {
		t.Error("not deleted when the last empty publication ended")
	}

	admit("published")
	m.Unpublished("published", true)
	admit("published")
	m.Unpublished("published", false)
	if !exists("published") {
		t.Error("a stream that was published to was deleted")
	}

	admit("recorded")
	st, err := m.Store("recorded")
	if err != nil {
		t.Fatal(err)
	}
	fragmentstest.AppendSynthetic(t, st, clk, 1, 100)
	m.Unpublished("recorded", false)
	if !exists("recorded") {
		t.Error("a stream holding a fragment was deleted")
	}

	admit("tagged")
	if err := m.Tag("tagged", map[string]string{"site": "gate"}); err != nil {
		t.Fatal(err)
	}
	m.Unpublished("tagged", false)
	if !exists("tagged") {
		t.Error("a stream changed through the API was deleted")
	}

	if _, err := m.CreateStream("created", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	admit("created")
	m.Unpublished("created", false)
	if !exists("created") {
		t.Error("a stream created with CreateStream was deleted")
	}
}
