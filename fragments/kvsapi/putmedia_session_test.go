package kvsapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/eddy-video/eddy/datastreams/datastreamstest"
	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/fragmentstest"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/fragments/mkv"
	"github.com/eddy-video/eddy/fragments/recorder"
	"github.com/eddy-video/eddy/media"
	"github.com/eddy-video/eddy/media/mediatest"
)

// pmEnv is a PutMedia endpoint on loopback over a fragment store, a
// registry and a recorder, as the server wires them, with limits a test
// can shorten.
type pmEnv struct {
	URL string
	M   *fragments.Manager
	Reg *media.Registry
}

func newPMEnv(t testing.TB, queue int, set func(*kvsapi.PutMedia)) *pmEnv {
	t.Helper()
	_, m := fragmentstest.NewManager(t, t.TempDir(), datastreamstest.NewClock(time.Now()), 64<<20)
	rec := &recorder.Recorder{Videos: m, Logger: mediatest.Logger()}
	if err := rec.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.Close)
	reg := &media.Registry{QueueSize: queue, Admit: m.Admit, OnPublish: rec.OnPublish, OnUnpublish: rec.OnUnpublish}
	m.BeforeDelete = func(name string) { rec.Stop(name); reg.End(name, io.EOF) }
	pm := &kvsapi.PutMedia{Registry: reg}
	if set != nil {
		set(pm)
	}
	r := chi.NewRouter()
	(&kvsapi.API{Videos: m, Logger: mediatest.Logger(), PutMedia: pm}).Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	if _, err := m.CreateStream("cam", fragments.CreateOptions{RetentionHours: 24}); err != nil {
		t.Fatal(err)
	}
	return &pmEnv{URL: srv.URL, M: m, Reg: reg}
}

// stored lists the stream's fragments.
func (e *pmEnv) stored(t *testing.T) []fragments.IndexEntry {
	t.Helper()
	st, err := e.M.Store("cam")
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Now().Add(time.Hour), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// upload is a PutMedia request whose body the test writes.
type upload struct {
	resp *http.Response
	body *io.PipeWriter
	mu   sync.Mutex
	acks []kvsapi.Ack
	done chan struct{}
}

func (u *upload) Acks() []kvsapi.Ack {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.acks)
}

func (u *upload) count(typ string) int {
	n := 0
	for _, a := range u.Acks() {
		if a.EventType == typ {
			n++
		}
	}
	return n
}

func (u *upload) wait(t testing.TB, within time.Duration) []kvsapi.Ack {
	t.Helper()
	select {
	case <-u.done:
	case <-time.After(within):
		t.Fatalf("answer still open after %v: %v", within, u.Acks())
	}
	return u.Acks()
}

func startUpload(t testing.TB, url string, headers map[string]string) *upload {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/putMedia", pr)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"x-amzn-stream-name": "cam", "x-amzn-fragment-timecode-type": "RELATIVE",
		"x-amzn-producer-start-timestamp": "1800000000"} {
		req.Header.Set(k, v)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	u := &upload{body: pw, done: make(chan struct{})}
	got := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		u.resp = resp
		got <- err
		if err != nil {
			close(u.done)
			return
		}
		defer resp.Body.Close()
		defer close(u.done)
		if resp.StatusCode != 200 {
			return
		}
		ar := kvsapi.NewAckReader(resp.Body)
		for {
			a, raw, err := ar.Next()
			if errors.Is(err, kvsapi.ErrBadAck) {
				t.Errorf("ack %q: %v", raw, err)
				return
			} else if err != nil {
				return
			}
			u.mu.Lock()
			u.acks = append(u.acks, a)
			u.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pw.Close() })
	return u
}

// send writes to the upload in the background (the server may read it
// only later, or never).
func (u *upload) send(b []byte) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := u.body.Write(b)
		ch <- err
	}()
	return ch
}

// write writes b to the upload and waits until the server read it.
func (u *upload) write(t testing.TB, b []byte) {
	if err := <-u.send(b); err != nil {
		t.Errorf("upload: %v", err)
	}
}

// synthClusters is the synthetic publication (25 fps H.264 with a
// keyframe every gop frames, 44.1 kHz AAC) as Matroska documents, one per
// GOP, with RELATIVE timecodes from 0.
func synthClusters(t testing.TB, seconds float64, gop int) [][]byte {
	t.Helper()
	tracks := []mkv.Track{
		{Number: 1, UID: 1, Type: mkv.Video, CodecID: "V_MPEG4/ISO/AVC", CodecPrivate: avcC(mediatest.H264SPS, mediatest.H264PPS), Width: 320, Height: 240},
		{Number: 2, UID: 2, Type: mkv.Audio, CodecID: "A_AAC", CodecPrivate: fragmentstest.ASC, SampleRate: 44100, Channels: 2},
	}
	var docs [][]byte
	var cur *mkv.Fragment
	flush := func() {
		if cur != nil {
			var b bytes.Buffer
			if err := mkv.WriteFragment(&b, cur); err != nil {
				t.Fatal(err)
			}
			docs = append(docs, b.Bytes())
		}
	}
	for _, au := range fragmentstest.Synth(seconds, gop, time.Unix(1_800_000_000, 0)) {
		rate := int64(90000)
		if au.Track == 1 {
			rate = 44100
		}
		at := time.Duration(au.PTS * int64(time.Second) / rate)
		if au.Track == 0 && au.Key {
			flush()
			cur = &mkv.Fragment{Tracks: tracks, Timecode: at.Truncate(time.Millisecond)}
		}
		if cur == nil {
			continue
		}
		data := au.Payload[0]
		if au.Track == 0 {
			data = nil
			for _, n := range au.Payload {
				data = binary.BigEndian.AppendUint32(data, uint32(len(n)))
				data = append(data, n...)
			}
		}
		cur.Frames = append(cur.Frames, mkv.Frame{Track: uint64(au.Track + 1), Time: at - cur.Timecode, Key: au.Key, Data: data})
	}
	flush()
	return docs
}

// avcC is an AVCDecoderConfigurationRecord with one SPS and one PPS.
func avcC(sps, pps []byte) []byte {
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

// TestPutMediaMaxConnectionDuration: a session older than the connection
// limit gets MAX_CONNECTION_DURATION_REACHED and ends; what it sent before
// is PERSISTED and stored, nothing after.
func TestPutMediaMaxConnectionDuration(t *testing.T) {
	e := newPMEnv(t, 1024, func(pm *kvsapi.PutMedia) { pm.MaxConnectionDuration = 1200 * time.Millisecond })
	docs := synthClusters(t, 8, 25) // 8 clusters of 1 s
	u := startUpload(t, e.URL, nil)
	go func() {
		for _, d := range docs {
			if <-u.send(d) != nil {
				return
			}
			time.Sleep(400 * time.Millisecond)
		}
		u.body.Close()
	}()
	acks := u.wait(t, 10*time.Second)
	last := acks[len(acks)-1]
	if last.EventType != "ERROR" || last.ErrorID != 4003 || last.ErrorCode != "MAX_CONNECTION_DURATION_REACHED" {
		t.Fatalf("last ack %v, want ERROR 4003 MAX_CONNECTION_DURATION_REACHED (acks %v)", last, acks)
	}
	persisted := u.count("PERSISTED")
	if persisted < 2 || persisted >= len(docs) {
		t.Fatalf("%d clusters PERSISTED in 1.2 s at one per 0.4 s", persisted)
	}
	if n := len(e.stored(t)); n != persisted {
		t.Fatalf("%d fragments stored, %d PERSISTED", n, persisted)
	}
	mediatest.WaitFor(t, "the name to be free", func() bool { _, busy := e.Reg.Hub("cam"); return !busy })
}

// TestPutMediaIdle: while no data arrives the session sends IDLE every
// IdleInterval, and closes after IdleTimeout without data, freeing the
// stream for the producer's next connection.
func TestPutMediaIdle(t *testing.T) {
	e := newPMEnv(t, 1024, func(pm *kvsapi.PutMedia) {
		pm.IdleInterval, pm.IdleTimeout = 200*time.Millisecond, 1500*time.Millisecond
	})
	u := startUpload(t, e.URL, nil)
	u.write(t, synthClusters(t, 1, 25)[0])
	start := time.Now()
	acks := u.wait(t, 10*time.Second)
	if d := time.Since(start); d < 1400*time.Millisecond || d > 4*time.Second {
		t.Errorf("closed %v after the last data, want about 1.5 s", d)
	}
	var idle int
	for _, a := range acks {
		if a.EventType == "IDLE" {
			idle++
			if a.FragmentTimecode != nil || a.FragmentNumber != "" {
				t.Errorf("IDLE ack %v carries a fragment", a)
			}
		}
	}
	if idle < 3 || u.count("PERSISTED") != 1 {
		t.Fatalf("acks %v: want the cluster PERSISTED and IDLE at least 3 times", acks)
	}
	if _, busy := e.Reg.Hub("cam"); busy {
		t.Fatal("the stream is still published after the idle session closed")
	}
}

// TestPutMediaBackpressure: an upload sent as fast as the connection
// goes is read only as fast as the recorder stores it (the clusters in
// flight are bounded): every cluster is PERSISTED, none lost by a
// recorder that fell a queue behind.
func TestPutMediaBackpressure(t *testing.T) {
	e := newPMEnv(t, 256, func(pm *kvsapi.PutMedia) { pm.MaxInFlight = 2 })
	docs := synthClusters(t, 30, 25)
	u := startUpload(t, e.URL, nil)
	go func() {
		u.write(t, bytes.Join(docs, nil))
		u.body.Close()
	}()
	u.wait(t, 30*time.Second)
	if n := u.count("PERSISTED"); n != len(docs) {
		t.Fatalf("%d of %d clusters PERSISTED (acks %v)", n, len(docs), u.Acks())
	}
	if n := len(e.stored(t)); n != len(docs) {
		t.Fatalf("%d fragments stored, want %d", n, len(docs))
	}
	if d := e.Reg.Dropped(); d != 0 {
		t.Fatalf("%d readers dropped", d)
	}
}

// TestPutMediaAcksNotRequired: with x-amzn-fragment-acknowledgment-required
// 0 the fragments are stored without BUFFERING, RECEIVED or PERSISTED.
func TestPutMediaAcksNotRequired(t *testing.T) {
	e := newPMEnv(t, 1024, nil)
	docs := synthClusters(t, 3, 25)
	u := startUpload(t, e.URL, map[string]string{"x-amzn-fragment-acknowledgment-required": "0"})
	go func() {
		u.write(t, bytes.Join(docs, nil))
		u.body.Close()
	}()
	if acks := u.wait(t, 10*time.Second); len(acks) != 0 || u.resp.StatusCode != 200 {
		t.Fatalf("status %d, acks %v: want 200 and none", u.resp.StatusCode, acks)
	}
	if n := len(e.stored(t)); n != len(docs) {
		t.Fatalf("%d fragments stored, want %d", n, len(docs))
	}
}

// TestPutMediaRefusals: requests the service refuses before a session
// starts, with the Kinesis Video error type and status.
func TestPutMediaRefusals(t *testing.T) {
	e := newPMEnv(t, 1024, nil)
	doc := synthClusters(t, 1, 25)[0]
	for _, c := range []struct {
		name    string
		headers map[string]string
		status  int
		code    string
	}{
		{"no stream", map[string]string{"x-amzn-stream-name": ""}, 400, "InvalidArgumentException"},
		{"bad name", map[string]string{"x-amzn-stream-name": "a b"}, 400, "InvalidArgumentException"},
		{"unknown stream", map[string]string{"x-amzn-stream-name": "nope"}, 404, "ResourceNotFoundException"},
		{"bad ARN", map[string]string{"x-amzn-stream-name": "", "x-amzn-stream-arn": "arn:aws:kinesis:us-east-1:123456789012:stream/cam"}, 400, "InvalidArgumentException"},
		{"timecode type", map[string]string{"x-amzn-fragment-timecode-type": "LOCAL"}, 400, "InvalidArgumentException"},
		{"start timestamp", map[string]string{"x-amzn-producer-start-timestamp": "12.3.4"}, 400, "InvalidArgumentException"},
		{"ack flag", map[string]string{"x-amzn-fragment-acknowledgment-required": "maybe"}, 400, "InvalidArgumentException"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := startUpload(t, e.URL, c.headers)
			u.send(doc)
			u.wait(t, 5*time.Second)
			var body struct{ Message string }
			_ = json.NewDecoder(u.resp.Body).Decode(&body)
			if u.resp.StatusCode != c.status || u.resp.Header.Get("x-amzn-ErrorType") != c.code {
				t.Fatalf("%d %s %q, want %d %s", u.resp.StatusCode, u.resp.Header.Get("x-amzn-ErrorType"), body.Message, c.status, c.code)
			}
		})
	}
	// The stream's ARN names it as well as its name.
	d, err := e.M.Describe("cam")
	if err != nil {
		t.Fatal(err)
	}
	u := startUpload(t, e.URL, map[string]string{"x-amzn-stream-name": "", "x-amzn-stream-arn": d.ARN})
	go func() { u.write(t, doc); u.body.Close() }()
	if acks := u.wait(t, 10*time.Second); u.resp.StatusCode != 200 || u.count("PERSISTED") != 1 {
		t.Fatalf("by ARN: status %d, acks %v", u.resp.StatusCode, acks)
	}
}

// TestPutMediaStreamDeleted: deleting the stream during a session ends
// it with STREAM_NOT_ACTIVE.
func TestPutMediaStreamDeleted(t *testing.T) {
	e := newPMEnv(t, 1024, nil)
	docs := synthClusters(t, 3, 25)
	u := startUpload(t, e.URL, nil)
	u.write(t, docs[0])
	mediatest.WaitFor(t, "the first PERSISTED", func() bool { return u.count("PERSISTED") == 1 })
	if err := e.M.DeleteStream("cam", nil); err != nil {
		t.Fatal(err)
	}
	acks := u.wait(t, 10*time.Second)
	if last := acks[len(acks)-1]; last.ErrorID != 4008 || last.ErrorCode != "STREAM_NOT_ACTIVE" {
		t.Fatalf("acks %v, want ERROR 4008 STREAM_NOT_ACTIVE last", acks)
	}
}

// rewrite reads Matroska documents back, lets fn change each fragment
// (its index given), and writes them again.
func rewrite(t *testing.T, docs [][]byte, fn func(i int, f *mkv.Fragment)) [][]byte {
	t.Helper()
	var out [][]byte
	for i, d := range docs {
		r := mkv.NewReader(bytes.NewReader(d))
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		f.Tracks = slices.Clone(f.Tracks)
		fn(i, f)
		var b bytes.Buffer
		if err := mkv.WriteFragment(&b, f); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// TestPutMediaLimits: the limits of a session, each with its ErrorId and
// nothing stored of what broke it. A stream that keeps no data gets
// RECEIVED and never PERSISTED.
func TestPutMediaLimits(t *testing.T) {
	docs := synthClusters(t, 3, 25)
	run := func(t *testing.T, e *pmEnv, stream, timecode string, docs [][]byte) []kvsapi.Ack {
		u := startUpload(t, e.URL, map[string]string{"x-amzn-stream-name": stream, "x-amzn-fragment-timecode-type": timecode})
		go func() {
			u.write(t, bytes.Join(docs, nil))
			u.body.Close()
		}()
		acks := u.wait(t, 10*time.Second)
		if u.resp.StatusCode != 200 {
			t.Fatalf("status %d", u.resp.StatusCode)
		}
		return acks
	}
	summary := func(acks []kvsapi.Ack) []string {
		var out []string
		for _, a := range acks {
			switch a.EventType {
			case "ERROR":
				out = append(out, a.ErrorCode)
			case "PERSISTED", "RECEIVED":
				out = append(out, a.EventType)
			}
		}
		return out
	}
	t.Run("more than 3 tracks", func(t *testing.T) {
		e := newPMEnv(t, 1024, nil)
		four := rewrite(t, docs, func(_ int, f *mkv.Fragment) {
			for n := uint64(3); n <= 4; n++ {
				extra := f.Tracks[1]
				extra.Number, extra.UID = n, n
				f.Tracks = append(f.Tracks, extra)
			}
		})
		if got := summary(run(t, e, "cam", "RELATIVE", four)); !slices.Equal(got, []string{"MORE_THAN_ALLOWED_TRACKS_FOUND"}) {
			t.Fatalf("acks %v", got)
		}
		if n := len(e.stored(t)); n != 0 {
			t.Fatalf("%d fragments stored", n)
		}
	})
	t.Run("block of an undeclared track", func(t *testing.T) {
		e := newPMEnv(t, 1024, nil)
		// The second cluster with a third track whose TrackEntry then
		// says 4 (TrackNumber D7 81 03 → 04, same size): its blocks for
		// track 3 belong to no declared track.
		bad := rewrite(t, docs[1:2], func(_ int, f *mkv.Fragment) {
			extra := f.Tracks[1]
			extra.Number, extra.UID = 3, 3
			f.Tracks = append(f.Tracks, extra)
			for _, fr := range slices.Clone(f.Frames) {
				if fr.Track == 2 {
					fr.Track = 3
					f.Frames = append(f.Frames, fr)
				}
			}
		})[0]
		head := bad[:bytes.Index(bad, []byte{0x1F, 0x43, 0xB6, 0x75})] // up to the Cluster
		if bytes.Count(head, []byte{0xD7, 0x81, 0x03}) != 1 {
			t.Fatal("TrackNumber 3 not found once in the header")
		}
		i := bytes.Index(bad, []byte{0xD7, 0x81, 0x03})
		bad[i+2] = 4
		got := summary(run(t, e, "cam", "RELATIVE", [][]byte{docs[0], bad}))
		slices.Sort(got)
		if !slices.Equal(got, []string{"PERSISTED", "RECEIVED", "TRACK_NUMBER_MISMATCH"}) {
			t.Fatalf("acks %v", got)
		}
		if n := len(e.stored(t)); n != 1 {
			t.Fatalf("%d fragments stored, want the first", n)
		}
	})
	t.Run("fragment over the size limit", func(t *testing.T) {
		e := newPMEnv(t, 1024, func(pm *kvsapi.PutMedia) { pm.MaxFragmentBytes = 20000 })
		big := rewrite(t, docs, func(i int, f *mkv.Fragment) {
			if i == 1 {
				f.Frames[len(f.Frames)-1].Data = make([]byte, 25000)
			}
		})
		got := summary(run(t, e, "cam", "RELATIVE", big))
		slices.Sort(got) // the first cluster's PERSISTED may come after the second one's ERROR
		if !slices.Equal(got, []string{"MAX_FRAGMENT_SIZE_REACHED", "PERSISTED", "RECEIVED"}) {
			t.Fatalf("acks %v", got)
		}
		if n := len(e.stored(t)); n != 1 {
			t.Fatalf("%d fragments stored, want the first", n)
		}
	})
	t.Run("producer timestamp out of range", func(t *testing.T) {
		e := newPMEnv(t, 1024, nil)
		base := time.Duration(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
		future := rewrite(t, docs, func(i int, f *mkv.Fragment) {
			f.Timecode += base
			if i == 1 {
				f.Timecode += 100 * 365 * 24 * time.Hour // 2126
			}
		})
		got := summary(run(t, e, "cam", "ABSOLUTE", future))
		slices.Sort(got)
		if want := []string{"INVALID_PRODUCER_TIMESTAMP", "PERSISTED", "PERSISTED", "RECEIVED", "RECEIVED"}; !slices.Equal(got, want) {
			t.Fatalf("acks %v, want %v", got, want)
		}
		for _, f := range e.stored(t) {
			if time.Unix(0, f.ProducerTime).Year() != 2026 {
				t.Fatalf("stored a fragment at %v", time.Unix(0, f.ProducerTime))
			}
		}
	})
	t.Run("stream keeping no data", func(t *testing.T) {
		e := newPMEnv(t, 1024, nil)
		if _, err := e.M.CreateStream("live", fragments.CreateOptions{RetentionHours: 0}); err != nil {
			t.Fatal(err)
		}
		if got := summary(run(t, e, "live", "RELATIVE", docs)); !slices.Equal(got, []string{"RECEIVED", "RECEIVED", "RECEIVED"}) {
			t.Fatalf("acks %v, want RECEIVED for each cluster and no PERSISTED", got)
		}
	})
}

// TestPutMediaRefusedAfterIdle: a session whose answer already started
// (IDLE while the producer sent nothing) and whose first cluster then
// cannot be published ends with an ERROR ack, not in silence: INTERNAL_ERROR
// (retry) when another producer took the stream meanwhile,
// STREAM_NOT_ACTIVE when it was deleted.
func TestPutMediaRefusedAfterIdle(t *testing.T) {
	for _, c := range []struct {
		name  string
		block func(t *testing.T, e *pmEnv)
		id    int
		code  string
	}{
		{"busy", func(t *testing.T, e *pmEnv) {
			h, err := e.Reg.PublishFrom("rtsp", "cam", []media.Track{{ID: 0, Kind: media.Video, Codec: media.CodecH264, ClockRate: 90000}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Reg.Unpublish("cam", h) })
		}, 5000, "INTERNAL_ERROR"},
		{"deleted", func(t *testing.T, e *pmEnv) {
			if err := e.M.DeleteStream("cam", nil); err != nil {
				t.Fatal(err)
			}
		}, 4008, "STREAM_NOT_ACTIVE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newPMEnv(t, 1024, func(pm *kvsapi.PutMedia) { pm.IdleInterval = 100 * time.Millisecond })
			u := startUpload(t, e.URL, nil)
			mediatest.WaitFor(t, "an IDLE ack", func() bool { return u.count("IDLE") > 0 })
			c.block(t, e)
			u.send(synthClusters(t, 1, 25)[0])
			acks := u.wait(t, 10*time.Second)
			if last := acks[len(acks)-1]; last.EventType != "ERROR" || last.ErrorID != c.id || last.ErrorCode != c.code {
				t.Fatalf("acks %v, want ERROR %d %s last", acks, c.id, c.code)
			}
		})
	}
}

// TestPutMediaStoreRefusal: a cluster the store's own rules refuse (here
// longer than a stored fragment may be, the session's limit raised past
// it) gets INVALID_MKV_DATA, which producers do not send again, not the
// ARCHIVAL_ERROR they retry forever; nothing is stored.
func TestPutMediaStoreRefusal(t *testing.T) {
	e := newPMEnv(t, 8192, func(pm *kvsapi.PutMedia) { pm.MaxFragmentDuration = 40 * time.Second })
	docs := synthClusters(t, 31, 31*25) // one 31 s cluster: over the store's 30 s
	if len(docs) != 1 {
		t.Fatalf("%d clusters, want 1", len(docs))
	}
	u := startUpload(t, e.URL, nil)
	go func() {
		u.write(t, docs[0])
		u.body.Close()
	}()
	acks := u.wait(t, 10*time.Second)
	if last := acks[len(acks)-1]; last.EventType != "ERROR" || last.ErrorID != 4006 || last.ErrorCode != "INVALID_MKV_DATA" ||
		last.FragmentTimecode == nil || *last.FragmentTimecode != 0 {
		t.Fatalf("acks %v, want ERROR 4006 INVALID_MKV_DATA for the cluster at 0 last", acks)
	}
	if n := len(e.stored(t)); n != 0 {
		t.Fatalf("%d fragments stored", n)
	}
}

// TestPutMediaTooManyFrames: a cluster of more frames than a recorder's
// queue can hold in flight (half a hub reader's queue) gets
// MAX_FRAGMENT_SIZE_REACHED and is skipped, rather than published past the
// bound that keeps the recorder from falling behind: the clusters around
// it are stored, no reader dropped.
func TestPutMediaTooManyFrames(t *testing.T) {
	e := newPMEnv(t, 256, nil) // 128 units in flight
	docs := synthClusters(t, 5, 25)
	var fs []*mkv.Fragment
	for _, d := range docs {
		f, err := mkv.NewReader(bytes.NewReader(d)).Next()
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	big := *fs[1]
	big.Frames = nil
	for _, f := range fs[1:4] {
		for _, fr := range f.Frames {
			fr.Time += f.Timecode - big.Timecode
			big.Frames = append(big.Frames, fr)
		}
	}
	if len(big.Frames) <= 128 {
		t.Fatalf("the big cluster has %d frames", len(big.Frames))
	}
	var b bytes.Buffer
	if err := mkv.WriteFragment(&b, &big); err != nil {
		t.Fatal(err)
	}
	u := startUpload(t, e.URL, nil)
	go func() {
		u.write(t, bytes.Join([][]byte{docs[0], b.Bytes(), docs[4]}, nil))
		u.body.Close()
	}()
	acks := u.wait(t, 10*time.Second)
	bigTC := big.Timecode.Milliseconds()
	var errs []string
	for _, a := range acks {
		if a.EventType == "ERROR" {
			errs = append(errs, a.String())
			if a.ErrorID != 4001 || a.ErrorCode != "MAX_FRAGMENT_SIZE_REACHED" || a.FragmentTimecode == nil || *a.FragmentTimecode != bigTC {
				t.Errorf("ack %v, want ERROR 4001 MAX_FRAGMENT_SIZE_REACHED for the cluster at %d ms", a, bigTC)
			}
		}
	}
	if len(errs) != 1 || u.count("PERSISTED") != 2 || len(e.stored(t)) != 2 || e.Reg.Dropped() != 0 {
		t.Fatalf("acks %v, %d stored, %d readers dropped: want the big cluster refused, the 2 others stored", acks, len(e.stored(t)), e.Reg.Dropped())
	}
}
