package putmedia

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/mkv"
)

// fakeServer plays the server side of PutMedia for the unit tests: it
// reads each upload with fragments/mkv's reader and answers BUFFERING,
// RECEIVED and PERSISTED per cluster on the same connection (full
// duplex), and ListFragments over what it stored. act decides, per
// cluster, to do otherwise. The end-to-end tests in cmd/eddy use the
// real server.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server
	// act is asked about the n-th cluster (from 0) of connection conn
	// (from 0); nil acknowledges everything.
	act func(conn, n int, tc int64) fakeAction
	// endAfter ends each response after so many acknowledged clusters
	// (0: never), as a server closing an idle connection does.
	endAfter int
	// retention is the DataRetentionInHours DescribeStream answers (nil:
	// DescribeStream is not served, 404).
	retention *int32

	mu      sync.Mutex
	conns   int
	headers []http.Header
	stored  []fakeFragment
	seq     int
}

type fakeFragment struct {
	Number   string
	Timecode int64
	Producer time.Time
	Conn     int
	Frag     *mkv.Fragment
}

type fakeAction struct {
	drop      bool // abort the connection before acknowledging
	errorID   int  // answer ERROR with this id and end the response
	noPersist bool // store and answer RECEIVED only
	lose      bool // store and make durable, then abort without the PERSISTED ack
}

func newFakeServer(t *testing.T, act func(conn, n int, tc int64) fakeAction) *fakeServer {
	s := &fakeServer{t: t, act: act}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/listFragments":
		s.list(w, r)
		return
	case "/describeStream":
		if s.retention != nil {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"StreamInfo":{"StreamName":"cam1","Status":"ACTIVE","DataRetentionInHours":%d}}`, *s.retention)
			return
		}
		http.NotFound(w, r)
		return
	case "/putMedia":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("x-amzn-stream-name") == "missing" {
		w.Header().Set("x-amzn-ErrorType", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"The stream missing does not exist."}`)
		return
	}
	s.mu.Lock()
	conn := s.conns
	s.conns++
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	start, _ := strconv.ParseFloat(r.Header.Get("x-amzn-producer-start-timestamp"), 64)
	relative := r.Header.Get("x-amzn-fragment-timecode-type") == TimecodeRelative

	rc := http.NewResponseController(w)
	if err := rc.EnableFullDuplex(); err != nil {
		s.t.Error(err)
		return
	}
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	ack := func(a Ack) {
		b, _ := json.Marshal(a)
		_, _ = w.Write(append(b, '\n'))
		_ = rc.Flush()
	}
	rd := mkv.NewReader(r.Body)
	rd.EmitOnClusterEnd = true
	for n := 0; ; n++ {
		f, err := rd.Next()
		if err != nil {
			if err != io.EOF {
				s.t.Logf("fake server: connection %d: %v", conn, err)
			}
			return
		}
		tc := f.Timecode.Milliseconds()
		var act fakeAction
		if s.act != nil {
			act = s.act(conn, n, tc)
		}
		if act.drop {
			panic(http.ErrAbortHandler)
		}
		if act.errorID != 0 {
			ack(Ack{EventType: EventError, FragmentTimecode: &tc, ErrorID: act.errorID, ErrorCode: "TEST_ERROR"})
			return
		}
		prod := time.UnixMilli(tc)
		if relative {
			prod = time.UnixMilli(int64(start*1000+0.5) + tc)
		}
		s.mu.Lock()
		s.seq++
		num := fmt.Sprintf("9134385233318143239268206260774392014626486%04d", s.seq)
		s.stored = append(s.stored, fakeFragment{Number: num, Timecode: tc, Producer: prod, Conn: conn, Frag: f})
		s.mu.Unlock()
		ack(Ack{EventType: EventBuffering, FragmentTimecode: &tc, FragmentNumber: num})
		ack(Ack{EventType: EventReceived, FragmentTimecode: &tc, FragmentNumber: num})
		if act.lose {
			panic(http.ErrAbortHandler)
		}
		if !act.noPersist {
			ack(Ack{EventType: EventPersisted, FragmentTimecode: &tc, FragmentNumber: num})
		}
		if s.endAfter > 0 && n+1 == s.endAfter {
			return
		}
	}
}

// list answers ListFragments (PRODUCER_TIMESTAMP selector) as the Kinesis
// Video archived media API does: epoch seconds in JSON numbers.
func (s *fakeServer) list(w http.ResponseWriter, r *http.Request) {
	var in struct {
		FragmentSelector struct {
			TimestampRange struct{ StartTimestamp, EndTimestamp float64 }
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	from, to := in.FragmentSelector.TimestampRange.StartTimestamp, in.FragmentSelector.TimestampRange.EndTimestamp
	type frag struct {
		FragmentNumber               string
		ProducerTimestamp            float64
		ServerTimestamp              float64
		FragmentSizeInBytes          int
		FragmentLengthInMilliseconds int
	}
	out := struct{ Fragments []frag }{Fragments: []frag{}}
	s.mu.Lock()
	for _, f := range s.stored {
		sec := float64(f.Producer.UnixMilli()) / 1000
		if sec >= from && sec <= to {
			out.Fragments = append(out.Fragments, frag{FragmentNumber: f.Number, ProducerTimestamp: sec, ServerTimestamp: sec,
				FragmentSizeInBytes: 1, FragmentLengthInMilliseconds: 1})
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// fragments returns what the server stored.
func (s *fakeServer) fragments() []fakeFragment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeFragment(nil), s.stored...)
}

func (s *fakeServer) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// ackLog collects the acks of a producer.
type ackLog struct {
	mu   sync.Mutex
	acks []Ack
}

func (l *ackLog) add(a Ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	l.mu.Unlock()
}

func (l *ackLog) of(event string) []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Ack
	for _, a := range l.acks {
		if a.EventType == event {
			out = append(out, a)
		}
	}
	return out
}

// noWait is the pacer of the unit tests: files as fast as they read.
func noWait(ctx context.Context, _ time.Time) error { return ctx.Err() }
