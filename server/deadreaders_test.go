package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// h2Frame appends an HTTP/2 frame.
func h2Frame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return append(b, payload...)
}

// hpackLiteral appends a header field as an HPACK literal without
// indexing (new name, no Huffman coding; short strings).
func hpackLiteral(b []byte, name, value string) []byte {
	b = append(b, 0, byte(len(name)))
	b = append(b, name...)
	b = append(b, byte(len(value)))
	return append(b, value...)
}

// deadConsumer opens SubscribeToShard over cleartext HTTP/2 with a stream
// window of 1 KiB and then never reads: a consumer that stopped reading.
func deadConsumer(t *testing.T, addr, consumerARN string) net.Conn {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"ConsumerARN": consumerARN, "ShardId": "shardId-000000000000",
		"StartingPosition": map[string]string{"Type": "TRIM_HORIZON"}})
	var hdr []byte
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/"}, {":authority", addr},
		{"content-type", "application/x-amz-json-1.1"}, {"x-amz-target", "Kinesis_20131202.SubscribeToShard"},
		{"content-length", strconv.Itoa(len(body))}} {
		hdr = hpackLiteral(hdr, f[0], f[1])
	}
	settings := binary.BigEndian.AppendUint16(nil, 0x4) // SETTINGS_INITIAL_WINDOW_SIZE
	settings = binary.BigEndian.AppendUint32(settings, 1024)
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = h2Frame(out, 0x4, 0, 0, settings)
	out = h2Frame(out, 0x1, 0x4, 1, hdr)  // HEADERS, END_HEADERS
	out = h2Frame(out, 0x0, 0x1, 1, body) // DATA, END_STREAM
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	return c
}

// subscribers counts the goroutines serving SubscribeToShard.
func subscribers() int { return handlers("kdsapi.(*API).subscribeToShard(") }

// handlers counts the goroutines running fn.
func handlers(fn string) int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte(fn))
}

// readerCuts reads eddy_reader_cuts_total{protocol}.
func readerCuts(t *testing.T, url, protocol string) int {
	t.Helper()
	_, _, body := httpGet(t, url+"/metrics")
	m := regexp.MustCompile(`(?m)^eddy_reader_cuts_total\{protocol="` + protocol + `"\} (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestDeadSubscriberIsCut: SubscribeToShard consumers that stop reading
// (over HTTP/2, their window full) are cut once an event's write misses
// limits.write_timeout: their handlers return, so the goroutines and the
// buffers they hold are released, and each cut is counted.
func TestDeadSubscriberIsCut(t *testing.T) {
	e := servertest.Start(t, func(c *server.Config) { c.Limits.WriteTimeout = server.Duration(time.Second) })
	ctx := servertest.Context(t, time.Minute)
	kc := e.Kinesis()
	createStream(t, kc, "efo", 1)
	for i := range 4 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("efo"), PartitionKey: aws.String("k"),
			Data: bytes.Repeat([]byte{byte(i)}, 100_000)}); err != nil {
			t.Fatal(err)
		}
	}
	base := subscribers()
	addr := strings.TrimPrefix(e.URL, "http://")
	const n = 3
	for i := range n {
		arn := registerConsumer(t, kc, "efo", "dead"+strconv.Itoa(i))
		waitConsumerActive(ctx, t, kc, arn)
		deadConsumer(t, addr, aws.ToString(arn))
	}
	waitUntil(t, "the dead consumers' subscriptions to start", 5*time.Second, func() bool { return subscribers() >= base+n })
	waitUntil(t, "the dead consumers to be cut", 10*time.Second, func() bool { return subscribers() == base })
	if got := readerCuts(t, e.URL, "kds_subscribe"); got != n {
		t.Errorf("eddy_reader_cuts_total{protocol=\"kds_subscribe\"} = %d, want %d", got, n)
	}
}

// TestDeadSubscriberTakenOver: a new subscription of the same consumer
// takes over from one that stopped reading, and the old one's handler is
// released at once (within a second's grace), not when its write would
// time out.
func TestDeadSubscriberTakenOver(t *testing.T) {
	e := servertest.Start(t, func(c *server.Config) { c.Limits.WriteTimeout = server.Duration(time.Minute) })
	ctx := servertest.Context(t, time.Minute)
	kc := e.Kinesis()
	createStream(t, kc, "efo", 1)
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("efo"), PartitionKey: aws.String("k"),
		Data: bytes.Repeat([]byte{1}, 100_000)}); err != nil {
		t.Fatal(err)
	}
	base := subscribers()
	arn := registerConsumer(t, kc, "efo", "dead")
	waitConsumerActive(ctx, t, kc, arn)
	deadConsumer(t, strings.TrimPrefix(e.URL, "http://"), aws.ToString(arn))
	waitUntil(t, "the dead consumer's subscription to start", 5*time.Second, func() bool { return subscribers() == base+1 })
	time.Sleep(5 * time.Second) // a subscription can be taken over after 5 s
	out, err := subscribe(t, kc, arn, "TRIM_HORIZON", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.GetStream().Close()
	if ev := <-out.GetStream().Events(); ev == nil {
		t.Fatalf("the new subscription got no event: %v", out.GetStream().Err())
	}
	waitUntil(t, "the dead consumer to be released", 3*time.Second, func() bool { return subscribers() == base+1 })
}

// waitActive waits for a consumer to become ACTIVE.
func waitConsumerActive(ctx context.Context, t *testing.T, kc *kinesis.Client, arn *string) {
	t.Helper()
	waitUntil(t, "the consumer to be ACTIVE", 10*time.Second, func() bool {
		d, err := kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: arn})
		return err == nil && d.ConsumerDescription.ConsumerStatus == "ACTIVE"
	})
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestDeadMediaReaderIsCut: a reader of GetMediaForFragmentList, GetClip,
// clip.mp4 or an HLS segment that stops reading (HTTP/1.1, a small
// receive buffer) is cut once a write misses limits.write_timeout: its
// handler returns, and the cut is counted under its protocol.
func TestDeadMediaReaderIsCut(t *testing.T) {
	e := servertest.Start(t, func(c *server.Config) { c.Limits.WriteTimeout = server.Duration(time.Second) })
	ctx := servertest.Context(t, time.Minute)
	am := e.ArchivedMedia()
	from := time.Now().Add(-time.Second)
	cam := newCamera(t, e.RTSPURL("cam"))
	if _, err := cam.run(0, 50, tick/25, 10*time.Millisecond, 25, 250_000); err != nil { // 12.5 MB, fragments of 6.25 MB
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cam.c.Close()
	var nums []string
	for _, f := range settledFragments(ctx, t, am, "cam", from) {
		nums = append(nums, aws.ToString(f.FragmentNumber))
	}
	to := time.Now()
	media, _ := json.Marshal(map[string]any{"StreamName": "cam", "Fragments": nums})
	clip, _ := json.Marshal(map[string]any{"StreamName": "cam", "ClipFragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP",
		"TimestampRange": map[string]any{"StartTimestamp": from.Unix(), "EndTimestamp": to.Unix() + 1}}})
	playlist := hlsPlaylistURL(ctx, t, am, "cam", from)
	segment, err := url.Parse(playlistURIs(playlist, getOK(t, playlist))[0])
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"start": {from.Format(time.RFC3339)}, "end": {to.Add(time.Second).Format(time.RFC3339)}, "timestamps": {"server"}}
	addr := strings.TrimPrefix(e.URL, "http://")
	post := func(path string, body []byte) string {
		return "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	}
	for _, c := range []struct{ name, req, handler, protocol string }{
		{"GetMediaForFragmentList", post("/getMediaForFragmentList", media), "kvsapi.(*API).getMediaForFragmentList(", "kvs"},
		{"GetClip", post("/getClip", clip), "kvsapi.(*API).getClip(", "kvs"},
		{"clip.mp4", "GET /api/v1/streams/cam/clip.mp4?" + q.Encode() + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", "web.(*Handler).clipMP4(", "clip"},
		{"HLS segment", "GET " + segment.RequestURI() + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n", "hls.(*Server).fragment(", "hls"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := readerCuts(t, e.URL, c.protocol)
			conn := smallReceiveBuffer(t, addr)
			if _, err := conn.Write([]byte(c.req)); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, c.name+" to start", 5*time.Second, func() bool { return handlers(c.handler) == 1 })
			waitUntil(t, "the dead reader to be cut", 10*time.Second, func() bool { return handlers(c.handler) == 0 })
			if got := readerCuts(t, e.URL, c.protocol) - before; got != 1 {
				t.Errorf("eddy_reader_cuts_total{protocol=%q} rose by %d, want 1", c.protocol, got)
			}
		})
	}
}

// rtspRequest sends one RTSP request on c and reads its answer's headers
// and body.
func rtspRequest(t *testing.T, c net.Conn, br *bufio.Reader, req string) (map[string]string, string) {
	t.Helper()
	if _, err := c.Write([]byte(req + "\r\n")); err != nil {
		t.Fatal(err)
	}
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("%s: %q %v", strings.SplitN(req, " ", 2)[0], status, err)
	}
	h := map[string]string{}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l = strings.TrimSpace(l); l == "" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok {
			h[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	n, _ := strconv.Atoi(h["content-length"])
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	return h, string(body)
}

// smallReceiveBuffer dials addr with a 4 KiB receive buffer: a reader
// that stops reading holds the sender up at once.
func smallReceiveBuffer(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDeadRTSPReaderIsCut: an RTSP reader (PLAY over TCP) that stops
// reading while a camera publishes 50 Mbit/s is cut (its queue fills, or
// a write misses limits.write_timeout) and counted; the camera publishes
// on.
func TestDeadRTSPReaderIsCut(t *testing.T) {
	e := servertest.Start(t, func(c *server.Config) { c.Limits.WriteTimeout = server.Duration(time.Second) })
	cam := newCamera(t, e.RTSPURL("cam"))
	stopCam := cam.stream(25, 250_000)
	defer func() {
		if err := stopCam(); err != nil {
			t.Errorf("the camera: %v", err)
		}
	}()
	addr := e.Server.RTSPAddr()
	u := "rtsp://" + addr + "/cam"
	c := smallReceiveBuffer(t, addr)
	br := bufio.NewReader(c)
	_, sdp := rtspRequest(t, c, br, "DESCRIBE "+u+" RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n")
	control := regexp.MustCompile(`(?m)^m=video[\s\S]*?^a=control:(\S+)`).FindStringSubmatch(sdp)
	if control == nil {
		t.Fatalf("no video control in\n%s", sdp)
	}
	h, _ := rtspRequest(t, c, br, "SETUP "+u+"/"+control[1]+" RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
	session, _, _ := strings.Cut(h["session"], ";")
	rtspRequest(t, c, br, "PLAY "+u+" RTSP/1.0\r\nCSeq: 3\r\nSession: "+session+"\r\n")
	// From here on nothing is read; a gortsplib reader reads on.
	var packets atomic.Int64
	defer playing(t, u, func() { packets.Add(1) })()
	waitUntil(t, "the RTSP reader to be cut", 15*time.Second, func() bool { return readerCuts(t, e.URL, "rtsp") == 1 })
	before := packets.Load()
	time.Sleep(2 * time.Second)
	if n := packets.Load() - before; n < 2000 {
		t.Errorf("the reading reader got %d packets in 2 s of 50 Mbit/s", n)
	}
	if n := readerCuts(t, e.URL, "rtsp"); n != 1 {
		t.Errorf("%d RTSP readers cut, want only the dead one", n)
	}
}

// playing plays url with gortsplib over TCP, calling onPacket for every
// RTP packet, until the returned func is called.
func playing(t *testing.T, url string, onPacket func()) func() {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp}
	if err := c.Start2(); err != nil {
		t.Fatal(err)
	}
	desc, _, err := c.Describe(u)
	if err == nil {
		err = c.SetupAll(desc.BaseURL, desc.Medias)
	}
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	c.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { onPacket() })
	if _, err := c.Play(nil); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c.Close
}
