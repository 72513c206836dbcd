package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/eddy-video/eddy/server/servertest"
)

// TestCrashRecovery runs the real binary under PutRecords load, SIGKILLs
// it at random moments, restarts it on the same data directory, and finally
// checks that every acknowledged record survived intact, exactly once, at
// the sequence number and shard it was acknowledged with.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the real binary for tens of seconds; skipped with -short")
	}
	const (
		cycles     = 24
		workers    = 4
		shardCount = 4
		stream     = "crash"
		budget     = 40 * time.Second // stop adding cycles past this (after the minimum)
		minCycles  = 20
	)
	bin := crashBuildBinary(t)
	dir := t.TempDir()
	start := time.Now()

	var (
		mu    sync.Mutex
		acked = map[uint64]crashAck{} // record id -> where it was acknowledged
	)
	var nextID atomic.Uint64
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1)) // batch sizes and kill delays
	t.Logf("seed %d", seed)

	ran := 0
	for cycle := 0; cycle < cycles; cycle++ {
		if cycle >= minCycles && time.Since(start) > budget {
			break
		}
		ran++
		// Alternate the fsync policy: a SIGKILL (unlike a power cut) keeps
		// what reached the page cache, so "interval" must lose nothing either.
		policy := "always"
		if cycle%2 == 1 {
			policy = "interval"
		}
		child := crashStart(t, bin, dir, "--sync", policy, "--sync-interval", "50ms")
		kc := servertest.KinesisAt(child.url, servertest.NoRetries)
		ctx := servertest.Context(t, 30*time.Second)

		if cycle == 0 {
			if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{
				StreamName:        aws.String(stream),
				ShardCount:        aws.Int32(shardCount),
				StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned},
			}); err != nil {
				t.Fatalf("create stream: %v", err)
			}
			servertest.WaitStreamActive(t, kc, stream)
		} else {
			// The previous cycle's acknowledged tip of every shard must be
			// readable right after the restart.
			mu.Lock()
			tips := crashTips(acked)
			mu.Unlock()
			crashCheckTips(t, ctx, kc, stream, tips, cycle)
		}

		// Load: several producers until the kill.
		var killed atomic.Bool
		var wg sync.WaitGroup
		var cycleAcks, liveErrors atomic.Int64
		for w := 0; w < workers; w++ {
			wseed := rng.Uint64()
			wg.Add(1)
			go func() {
				defer wg.Done()
				wr := rand.New(rand.NewPCG(wseed, uint64(w)))
				for !killed.Load() {
					n := 1 + wr.IntN(200)
					if wr.IntN(4) == 0 {
						n = 1 + wr.IntN(5)
					}
					ids := make([]uint64, n)
					entries := make([]types.PutRecordsRequestEntry, n)
					for i := range entries {
						ids[i] = nextID.Add(1)
						pk, data := crashRecord(ids[i])
						entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(pk)}
					}
					out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
					if err != nil {
						if !killed.Load() {
							liveErrors.Add(1)
							t.Errorf("cycle %d: PutRecords failed while the server was up: %v", cycle, err)
							time.Sleep(10 * time.Millisecond)
						}
						continue // nothing of this call counts as acknowledged
					}
					if len(out.Records) != n {
						t.Errorf("cycle %d: PutRecords returned %d results for %d records", cycle, len(out.Records), n)
						continue
					}
					mu.Lock()
					for i, r := range out.Records {
						if r.ErrorCode != nil || r.SequenceNumber == nil || r.ShardId == nil {
							if !killed.Load() {
								t.Errorf("cycle %d: record failed with throttling off: %s %s", cycle, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage))
							}
							continue
						}
						if prev, dup := acked[ids[i]]; dup {
							t.Errorf("id %d acknowledged twice: %+v and %s/%s", ids[i], prev, *r.ShardId, *r.SequenceNumber)
						}
						acked[ids[i]] = crashAck{shard: *r.ShardId, seq: *r.SequenceNumber, cycle: cycle}
						cycleAcks.Add(1)
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(50+rng.IntN(351)) * time.Millisecond)
		// On a loaded machine the first commit may take longer than the
		// delay; every cycle must prove that writes resume after a restart.
		for wait := time.Now(); cycleAcks.Load() == 0 && time.Since(wait) < 10*time.Second; {
			time.Sleep(5 * time.Millisecond)
		}
		killed.Store(true)
		child.kill(t)
		wg.Wait()
		if cycleAcks.Load() == 0 {
			t.Errorf("cycle %d: no record was acknowledged before the kill", cycle)
		}
		if t.Failed() {
			t.Logf("server stderr of cycle %d (sync %s):\n%s", cycle, policy, child.log())
			child.logged = true
			t.FailNow()
		}
	}

	// Final restart: read everything back.
	child := crashStart(t, bin, dir)
	kc := servertest.KinesisAt(child.url)
	ctx := servertest.Context(t, 30*time.Second)
	got := crashReadAll(t, ctx, kc, stream)

	mu.Lock()
	defer mu.Unlock()
	seen := map[uint64]crashAck{}
	extra := 0
	for shard, recs := range got {
		var prev *big.Int
		for _, r := range recs {
			seq, ok := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
			if !ok {
				t.Fatalf("%s: bad sequence number %q", shard, aws.ToString(r.SequenceNumber))
			}
			if prev != nil && seq.Cmp(prev) <= 0 {
				t.Errorf("%s: sequence %s follows %s", shard, seq, prev)
			}
			prev = seq
			id, err := crashDecode(r.Data)
			if err != nil {
				t.Errorf("%s at %s: garbled record (%d bytes): %v", shard, seq, len(r.Data), err)
				continue
			}
			if pk, _ := crashRecord(id); pk != aws.ToString(r.PartitionKey) {
				t.Errorf("%s at %s: id %d has partition key %q, want %q", shard, seq, id, aws.ToString(r.PartitionKey), pk)
			}
			if first, dup := seen[id]; dup {
				t.Errorf("id %d appears twice: %s/%s and %s/%s", id, first.shard, first.seq, shard, seq)
				continue
			}
			seen[id] = crashAck{shard: shard, seq: seq.String()}
			a, ok := acked[id]
			if !ok {
				extra++ // written when the kill came, never acknowledged: allowed
				continue
			}
			if a.shard != shard || a.seq != seq.String() {
				t.Errorf("id %d acknowledged as %s/%s (cycle %d), read at %s/%s", id, a.shard, a.seq, a.cycle, shard, seq)
			}
		}
	}
	missing := 0
	for id, a := range acked {
		if _, ok := seen[id]; !ok {
			missing++
			if missing <= 20 {
				t.Errorf("acknowledged record %d (%s/%s, cycle %d) is missing", id, a.shard, a.seq, a.cycle)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged records are missing", missing, len(acked))
	}
	total := 0
	for _, recs := range got {
		total += len(recs)
	}
	t.Logf("%d kill cycles in %v: %d records acknowledged, %d read back (%d written but unacknowledged), %d ids issued",
		ran, time.Since(start).Round(time.Millisecond), len(acked), total, extra, nextID.Load())

	// A clean stop must work after all that.
	child.stop(t)
}

type crashAck struct {
	shard, seq string
	cycle      int
}

// crashRecord returns the partition key and data of record id: the id, a
// pseudo-random payload of varying length derived from it, and a CRC over
// both, so any record read back can be checked on its own.
//
//	id u64 | payload length u32 | payload | crc32(IEEE) of everything before
func crashRecord(id uint64) (string, []byte) {
	r := rand.New(rand.NewPCG(id, 0xedd1))
	n := r.IntN(1500)
	switch r.IntN(100) {
	case 0:
		n = 16<<10 + r.IntN(48<<10)
	case 1, 2:
		n = 0
	}
	data := make([]byte, 12, 12+n+4)
	binary.BigEndian.PutUint64(data, id)
	binary.BigEndian.PutUint32(data[8:], uint32(n))
	for i := 0; i < n; i += 8 {
		data = binary.LittleEndian.AppendUint64(data, r.Uint64())
	}
	data = data[:12+n]
	data = binary.BigEndian.AppendUint32(data, crc32.ChecksumIEEE(data))
	return fmt.Sprintf("pk-%x", r.Uint64()%100000), data
}

// crashDecode checks a record read back and returns its id.
func crashDecode(data []byte) (uint64, error) {
	if len(data) < 16 {
		return 0, fmt.Errorf("only %d bytes", len(data))
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return 0, errors.New("checksum mismatch")
	}
	if n := binary.BigEndian.Uint32(body[8:]); int(n) != len(body)-12 {
		return 0, fmt.Errorf("payload length %d, record holds %d", n, len(body)-12)
	}
	id := binary.BigEndian.Uint64(body)
	if _, want := crashRecord(id); !bytes.Equal(want, data) {
		return id, fmt.Errorf("data of id %d differs from what was sent", id)
	}
	return id, nil
}

// crashBuildBinary builds ./ (package main, the test's directory).
func crashBuildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "eddy")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashChild is one run of the server.
type crashChild struct {
	cmd  *exec.Cmd
	url  string
	out  *crashLog
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, set before done closes
	// logged is set once the stderr was shown, so cleanup does not repeat it.
	logged bool
}

var crashReadyLine = regexp.MustCompile(`msg=ready http=(http://\S+)`)

// crashLog collects the child's stderr and reports the ready URL.
type crashLog struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	line  []byte
	ready chan string
	sent  bool
}

func (l *crashLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for _, b := range p {
		if b != '\n' {
			l.line = append(l.line, b)
			continue
		}
		if m := crashReadyLine.FindSubmatch(l.line); m != nil && !l.sent {
			l.sent = true
			l.ready <- string(m[1])
		}
		l.line = l.line[:0]
	}
	return len(p), nil
}

func (l *crashLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (c *crashChild) log() string { return c.out.String() }

// crashStart starts the server on dir and waits until /healthz answers 200.
func crashStart(t *testing.T, bin, dir string, flags ...string) *crashChild {
	t.Helper()
	out := &crashLog{ready: make(chan string, 1)}
	args := append([]string{"serve", "--data", dir, "--http", "127.0.0.1:0",
		"--rtsp", "127.0.0.1:0", "--rtsp-udp-rtp=", "--rtsp-udp-rtcp=", "--webrtc", "127.0.0.1:0", "--log-level", "info", "--throttle=false"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = crashEnv()
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server: %v", err)
	}
	c := &crashChild{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // harmless if it already exited
		<-c.done
		if t.Failed() && !c.logged {
			t.Logf("server stderr (%s):\n%s", c.url, out.String())
		}
	})
	select {
	case c.url = <-out.ready:
	case <-c.done:
		c.logged = true
		t.Fatalf("server exited before ready: %v\n%s", c.err, out.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("server not ready after 15s:\n%s", out.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(c.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz not OK after restart (last: %v, %v):\n%s", resp, err, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// crashEnv is the environment without EDDY_* settings that could change
// the flags under test.
func crashEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDDY_") {
			env = append(env, kv)
		}
	}
	return env
}

// kill sends SIGKILL and waits for the process to go.
func (c *crashChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit 10s after SIGKILL")
	}
}

// stop sends SIGTERM and expects a clean exit.
func (c *crashChild) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("sigterm: %v", err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("server exited with %v after SIGTERM", c.err)
		}
	case <-time.After(15 * time.Second):
		t.Error("server did not exit 15s after SIGTERM")
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// crashTips returns, per shard, the highest acknowledged sequence number
// and the id acknowledged there.
func crashTips(acked map[uint64]crashAck) map[string]crashTip {
	tips := map[string]crashTip{}
	for id, a := range acked {
		seq, _ := new(big.Int).SetString(a.seq, 10)
		if cur, ok := tips[a.shard]; !ok || seq.Cmp(cur.seq) > 0 {
			tips[a.shard] = crashTip{seq: seq, id: id}
		}
	}
	return tips
}

type crashTip struct {
	seq *big.Int
	id  uint64
}

func crashCheckTips(t *testing.T, ctx context.Context, kc *kinesis.Client, stream string, tips map[string]crashTip, cycle int) {
	t.Helper()
	for shard, tip := range tips {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: aws.String(shard),
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(tip.seq.String()),
		})
		if err != nil {
			t.Fatalf("restart %d: iterator at %s/%s: %v", cycle, shard, tip.seq, err)
		}
		gr, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
		if err != nil {
			t.Fatalf("restart %d: get records at %s/%s: %v", cycle, shard, tip.seq, err)
		}
		if len(gr.Records) != 1 || aws.ToString(gr.Records[0].SequenceNumber) != tip.seq.String() {
			t.Fatalf("restart %d: last acknowledged record %d of %s at %s is not there (got %d records)", cycle, tip.id, shard, tip.seq, len(gr.Records))
		}
		if id, err := crashDecode(gr.Records[0].Data); err != nil || id != tip.id {
			t.Fatalf("restart %d: record at %s/%s: id %d, %v; want id %d", cycle, shard, tip.seq, id, err, tip.id)
		}
	}
}

// crashReadAll reads every shard of the stream from TRIM_HORIZON to its tip.
func crashReadAll(t *testing.T, ctx context.Context, kc *kinesis.Client, stream string) map[string][]types.Record {
	t.Helper()
	var shards []types.Shard
	var token *string
	for {
		in := &kinesis.ListShardsInput{NextToken: token}
		if token == nil {
			in.StreamName = aws.String(stream)
		}
		ls, err := kc.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("list shards: %v", err)
		}
		shards = append(shards, ls.Shards...)
		if token = ls.NextToken; token == nil {
			break
		}
	}
	sort.Slice(shards, func(i, j int) bool { return aws.ToString(shards[i].ShardId) < aws.ToString(shards[j].ShardId) })
	out := map[string][]types.Record{}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("iterator %s: %v", id, err)
		}
		iter := it.ShardIterator
		for calls := 0; iter != nil; calls++ {
			if calls > 100000 {
				t.Fatalf("%s: GetRecords never caught up", id)
			}
			gr, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records %s: %v", id, err)
			}
			out[id] = append(out[id], gr.Records...)
			iter = gr.NextShardIterator // nil: closed shard fully read
			if len(gr.Records) == 0 && aws.ToInt64(gr.MillisBehindLatest) == 0 {
				break
			}
		}
	}
	if len(shards) < 4 {
		t.Fatalf("stream has %d shards, want 4", len(shards))
	}
	return out
}
