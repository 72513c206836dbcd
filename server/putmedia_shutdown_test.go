package server_test

import (
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/media/mediatest"
	"github.com/eddy-video/eddy/server/servertest"
)

// TestPutMediaShutdown: a server shutting down while a producer is
// connected (its upload open, not sending) ends the session at once, well
// within its grace period, with ERROR 5000 INTERNAL_ERROR last (the
// producer reconnects and resends what was not acknowledged), and keeps
// every fragment it acked PERSISTED: a server started again on the same
// data lists them.
func TestPutMediaShutdown(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	e := servertest.Start(t)
	ctx := servertest.Context(t, 60*time.Second)
	const stream = "pm-shutdown"
	createVideoStream(ctx, t, e.KinesisVideo(), stream)
	body := writeDocs(t, clipFragments(t, 4))
	pr, pw := io.Pipe()
	defer pw.Close()
	s, err := putMedia(ctx, t, e.URL, pmRequest{stream: stream, timecode: "RELATIVE"}, pr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write(body); err != nil {
		t.Fatal(err)
	}
	clusters := uploadedClusters(t, body)
	persisted := func() map[string]bool {
		out := map[string]bool{}
		for _, a := range s.Acks() {
			if a.EventType == "PERSISTED" {
				out[a.FragmentNumber] = true
			}
		}
		return out
	}
	mediatest.WaitFor(t, "every cluster PERSISTED", func() bool { return len(persisted()) == len(clusters) })
	start := time.Now()
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v with a producer connected", d)
	}
	acks := s.Wait(t, 5*time.Second)
	if last := acks[len(acks)-1]; last.EventType != "ERROR" || last.ErrorID != 5000 || last.ErrorCode != "INTERNAL_ERROR" {
		t.Fatalf("last ack %+v, want ERROR 5000 INTERNAL_ERROR (acks %v)", last, ackSummary(acks))
	}
	acked := persisted()
	again := servertest.StartConfig(t, e.Config)
	frags := waitFragments(ctx, t, again.ArchivedMedia(), stream, types.FragmentSelectorTypeServerTimestamp, time.Now().Add(-time.Hour), len(acked), 5*time.Second)
	if len(frags) != len(acked) {
		t.Fatalf("%d fragments kept, %d acked PERSISTED", len(frags), len(acked))
	}
	for _, f := range frags {
		if !acked[*f.FragmentNumber] {
			t.Errorf("fragment %s kept, never acked", *f.FragmentNumber)
		}
	}
}
