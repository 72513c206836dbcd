package putmedia

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/mkv"
)

// testClip is the repository's test clip: 20 s of 320x240 H.264 at 25
// fps (a keyframe every 2 s) with AAC.
var testClip = filepath.Join("..", "..", "..", "testdata", "cam-h264-aac.mp4")

func testProducer(t *testing.T, srv *fakeServer, acks *ackLog) *Producer {
	return &Producer{
		Endpoint: srv.srv.URL, Stream: "cam1", Source: testClip, BufferDir: t.TempDir(),
		OnAck: acks.add, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, pace: noWait,
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func run(t *testing.T, p *Producer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// checkClip checks that the stored fragments are the clip's ten GOPs, in
// order, each once, starting on a keyframe, with both tracks, 2 s apart.
func checkClip(t *testing.T, frags []fakeFragment, want int) {
	t.Helper()
	if len(frags) != want {
		t.Fatalf("%d fragments stored, want %d", len(frags), want)
	}
	for i, f := range frags {
		if len(f.Frag.Tracks) != 2 || f.Frag.Tracks[0].CodecID != mkv.CodecH264 || f.Frag.Tracks[1].CodecID != mkv.CodecAAC ||
			f.Frag.Tracks[0].Width != 320 || f.Frag.Tracks[1].SampleRate == 0 {
			t.Fatalf("fragment %d: tracks %+v", i, f.Frag.Tracks)
		}
		// The cluster's timecode is its keyframe's.
		if fr := f.Frag.Frames[0]; fr.Track != 1 || !fr.Key || fr.Time != 0 {
			t.Fatalf("fragment %d starts with a frame of track %d, key %v at %v, not the video keyframe", i, fr.Track, fr.Key, fr.Time)
		}
		video, audio := 0, 0
		for _, fr := range f.Frag.Frames {
			if fr.Track == 1 {
				video++
			} else {
				audio++
			}
		}
		if i == len(frags)-1 && video < 50 {
			continue // the last GOP ends with the source
		}
		if video != 50 || audio < 80 {
			t.Errorf("fragment %d: %d video and %d audio frames, want 50 and ~94", i, video, audio)
		}
		if i > 0 {
			if d := f.Producer.Sub(frags[i-1].Producer); d != 2*time.Second {
				t.Errorf("fragment %d: %v after the previous, want 2s", i, d)
			}
		}
	}
}

func TestProducerFile(t *testing.T) {
	for _, typ := range []string{TimecodeAbsolute, TimecodeRelative} {
		t.Run(typ, func(t *testing.T) {
			srv := newFakeServer(t, nil)
			acks := &ackLog{}
			p := testProducer(t, srv, acks)
			p.TimecodeType = typ
			p.Tags = []mkv.Tag{{Name: "camera", Value: "door"}}
			var sent []ClusterSent
			p.OnCluster = func(c ClusterSent) { sent = append(sent, c) }
			before := time.Now().Truncate(time.Millisecond)
			run(t, p)
			frags := srv.fragments()
			checkClip(t, frags, 10)
			if d := frags[0].Producer.Sub(before); d < 0 || d > 5*time.Second {
				t.Errorf("first producer timestamp %v, %v after the start", frags[0].Producer, d)
			}
			h := srv.headers[0]
			if h.Get("x-amzn-stream-name") != "cam1" || h.Get("x-amzn-fragment-timecode-type") != typ ||
				h.Get("x-amzn-fragment-acknowledgment-required") != "1" {
				t.Errorf("headers %v", h)
			}
			persisted := acks.of(EventPersisted)
			if len(persisted) != 10 || len(sent) != 10 {
				t.Fatalf("%d PERSISTED acks and %d clusters sent, want 10", len(persisted), len(sent))
			}
			for i, a := range persisted {
				if a.FragmentNumber != frags[i].Number || a.Timecode() != frags[i].Timecode || sent[i].Timecode != a.Timecode() {
					t.Errorf("ack %d: %+v, stored %s %d, sent %d", i, a, frags[i].Number, frags[i].Timecode, sent[i].Timecode)
				}
				if sent[i].ProducerTime.UnixMilli() != frags[i].Producer.UnixMilli() || sent[i].Resent {
					t.Errorf("cluster %d: %+v, stored at %v", i, sent[i], frags[i].Producer)
				}
			}
			if typ == TimecodeRelative && frags[0].Timecode != 0 {
				t.Errorf("first RELATIVE timecode %d, want 0", frags[0].Timecode)
			}
			if v, ok := frags[3].Frag.Tag("camera"); !ok || v != "door" {
				t.Errorf("fragment tags %v", frags[3].Frag.PreTags)
			}
			if n := srv.connections(); n != 1 {
				t.Errorf("%d connections, want 1", n)
			}
			ents, _ := os.ReadDir(p.BufferDir)
			if len(ents) != 0 {
				t.Errorf("buffer not empty after every ack: %v", ents)
			}
		})
	}
}

// TestProducerReconnect: connections that fail before the ack, after the
// fragment was stored but before its PERSISTED ack, and ERROR acks of
// each kind; nothing acknowledged is sent twice, nothing unacknowledged
// is lost (but the fragment the server refused for good).
func TestProducerReconnect(t *testing.T) {
	var refused int64
	srv := newFakeServer(t, func(conn, n int, tc int64) fakeAction {
		switch {
		case conn == 0 && n == 2:
			return fakeAction{drop: true} // cluster 2 never stored
		case conn == 1 && n == 1:
			return fakeAction{lose: true} // cluster 3 stored, ack lost
		case conn == 2 && n == 1:
			return fakeAction{errorID: 5000} // INTERNAL_ERROR: cluster 5 resent
		case conn == 3 && n == 2:
			refused = tc
			return fakeAction{errorID: 4006} // INVALID_MKV_DATA: cluster 7 dropped
		}
		return fakeAction{}
	})
	acks := &ackLog{}
	p := testProducer(t, srv, acks)
	var resent int
	p.OnCluster = func(c ClusterSent) {
		if c.Resent {
			resent++
		}
	}
	run(t, p)
	frags := srv.fragments()
	if len(frags) != 9 {
		t.Fatalf("%d fragments stored, want 9 (10 less the refused one)", len(frags))
	}
	for i := 1; i < len(frags); i++ {
		d := frags[i].Producer.Sub(frags[i-1].Producer)
		want := 2 * time.Second
		if frags[i].Timecode > refused && frags[i-1].Timecode < refused {
			want = 4 * time.Second
		}
		if d != want {
			t.Errorf("fragment %d: %v after the previous, want %v", i, d, want)
		}
	}
	if n := srv.connections(); n != 5 {
		t.Errorf("%d connections, want 5", n)
	}
	if resent == 0 {
		t.Error("no cluster resent")
	}
	if errs := acks.of(EventError); len(errs) != 2 {
		t.Errorf("ERROR acks %+v, want 2", errs)
	}
}

// TestProducerBufferAcrossRuns: a run stopped while its clusters wait for
// PERSISTED leaves them in BufferDir; the next run sends them first, on
// a connection of their own, then its own.
func TestProducerBufferAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	srv1 := newFakeServer(t, func(conn, n int, tc int64) fakeAction { return fakeAction{noPersist: true} })
	acks := &ackLog{}
	p := testProducer(t, srv1, acks)
	p.BufferDir = dir
	ctx, cancel := context.WithCancel(context.Background())
	p.OnAck = func(a Ack) {
		if len(acks.of(EventReceived)) >= 3 {
			cancel()
		}
		acks.add(a)
	}
	if err := p.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	left := 0
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".mkv") && filepath.Base(path) != "header.mkv" {
			left++
		}
		return nil
	})
	if left < 3 {
		t.Fatalf("%d clusters left in the buffer, want at least 3", left)
	}

	srv2 := newFakeServer(t, nil)
	p2 := testProducer(t, srv2, &ackLog{})
	p2.BufferDir = dir
	p2.Duration = 3 * time.Second // two more clusters
	run(t, p2)
	frags := srv2.fragments()
	if len(frags) != left+2 {
		t.Fatalf("%d fragments stored, want the %d buffered and 2 new", len(frags), left)
	}
	for i, f := range frags[:left] {
		if f.Conn != 0 || i > 0 && f.Producer.Sub(frags[i-1].Producer) != 2*time.Second {
			t.Errorf("buffered fragment %d: connection %d at %v", i, f.Conn, f.Producer)
		}
	}
	if frags[left].Conn != 1 {
		t.Errorf("the new run's clusters came on connection %d, want 1", frags[left].Conn)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("buffer not empty: %v", ents)
	}
}

// TestProducerRotation: connections rotated at MaxConnectionAge lose
// nothing.
func TestProducerRotation(t *testing.T) {
	srv := newFakeServer(t, nil)
	p := testProducer(t, srv, &ackLog{})
	p.MaxConnectionAge = 300 * time.Millisecond
	p.pace = realTime
	p.Duration = 4500 * time.Millisecond
	run(t, p)
	checkClip(t, srv.fragments(), 3)
	if n := srv.connections(); n < 3 {
		t.Errorf("%d connections in 4.5 s rotated every 300 ms", n)
	}
}

// TestProducerRefused: a request the server refuses for good ends Run
// with the AWS error.
func TestProducerRefused(t *testing.T) {
	srv := newFakeServer(t, nil)
	p := testProducer(t, srv, &ackLog{})
	p.Stream = "missing"
	err := p.Run(context.Background())
	var he *HTTPError
	if !errors.As(err, &he) || he.Type != "ResourceNotFoundException" || he.Status != 404 || !strings.Contains(he.Message, "does not exist") {
		t.Fatalf("Run: %v, want ResourceNotFoundException", err)
	}
}

// TestProducerIdleClose: a server that closes a connection with nothing
// in flight (idle) is no failure: the next cluster opens a connection at
// once, without backoff.
func TestProducerIdleClose(t *testing.T) {
	srv := newFakeServer(t, nil)
	srv.endAfter = 1 // every connection ends after its first cluster
	p := testProducer(t, srv, &ackLog{})
	p.MinBackoff, p.MaxBackoff = time.Hour, time.Hour // a backoff would stall the test
	p.pace = realTime
	p.Duration = 5 * time.Second
	run(t, p)
	checkClip(t, srv.fragments(), 3)
	if n := srv.connections(); n != 3 {
		t.Errorf("%d connections, want one per cluster", n)
	}
}

// TestProducerLoop: -loop restarts a file at its end with timestamps
// going on: an MP4 (the pass is its longest track, 20.023 s, as
// `eddy publish` loops it) and a Matroska file.
func TestProducerLoop(t *testing.T) {
	t.Run("MP4", func(t *testing.T) {
		srv := newFakeServer(t, nil)
		p := testProducer(t, srv, &ackLog{})
		p.Loop, p.Duration = true, 25*time.Second
		run(t, p)
		frags := srv.fragments()
		if len(frags) != 13 {
			t.Fatalf("%d fragments from 25 s of the looped 20 s clip, want 13", len(frags))
		}
		for i := 1; i < len(frags); i++ {
			want, slack := 2*time.Second, time.Duration(0)
			if i == 10 {
				// The pass ends with the audio track, 20.023 s and a
				// fraction of a ms: truncated to ms, 2023 or 2024 ms.
				want, slack = 2023*time.Millisecond, time.Millisecond
			}
			if d := frags[i].Producer.Sub(frags[i-1].Producer); d < want || d > want+slack {
				t.Errorf("fragment %d: %v after the previous, want %v", i, d, want)
			}
		}
	})
	t.Run("Matroska", func(t *testing.T) {
		clip := hevcOpusClip(t, t.TempDir(), 2)
		srv := newFakeServer(t, nil)
		p := testProducer(t, srv, &ackLog{})
		p.Source, p.Loop, p.Duration = clip, true, 5*time.Second
		run(t, p)
		frags := srv.fragments()
		if len(frags) != 5 {
			t.Fatalf("%d fragments from 5 s of a looped 2 s clip of 1 s GOPs, want 5", len(frags))
		}
		for i := 1; i < len(frags); i++ {
			if d := frags[i].Producer.Sub(frags[i-1].Producer); d < 990*time.Millisecond || d > 1050*time.Millisecond {
				t.Errorf("fragment %d: %v after the previous, want about 1 s", i, d)
			}
		}
	})
}

// TestProducerRetention0: a stream of retention 0 (DescribeStream says
// so) acknowledges RECEIVED only: the producer releases each cluster on
// RECEIVED and Run returns at the end of the file, with the buffer empty;
// with retention it waits for PERSISTED. OnAckJSON gets each ack's JSON
// as the server sent it.
func TestProducerRetention0(t *testing.T) {
	for _, hours := range []int32{0, 24} {
		srv := newFakeServer(t, func(conn, n int, tc int64) fakeAction { return fakeAction{noPersist: hours == 0} })
		srv.retention = &hours
		p := testProducer(t, srv, &ackLog{})
		var raws []string
		p.OnAckJSON = func(a Ack, raw []byte) {
			if b, _ := json.Marshal(a); string(b) != string(raw) {
				t.Errorf("ack %+v: raw %s, the server sent %s", a, raw, b)
			}
			raws = append(raws, string(raw))
		}
		run(t, p)
		want := EventPersisted
		if hours == 0 {
			want = EventReceived
		}
		if p.ReleaseOn != want || len(raws) == 0 {
			t.Errorf("retention %d: released on %s (%d acks), want %s", hours, p.ReleaseOn, len(raws), want)
		}
		if files, _ := filepath.Glob(filepath.Join(p.BufferDir, "s-*", "*.mkv")); len(files) != 0 {
			t.Errorf("retention %d: buffer left %v", hours, files)
		}
		checkClip(t, srv.fragments(), 10)
	}
}
