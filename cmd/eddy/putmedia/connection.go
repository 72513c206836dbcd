package putmedia

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia"
	amtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"

	"github.com/eddy-video/eddy/fragments/kvsapi"
)

// HTTPError is a PutMedia request the server refused before streaming
// acks: its status and AWS error type and message.
type HTTPError struct {
	Status  int
	Type    string
	Message string
}

func (e *HTTPError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("putmedia: %s: %s", e.Type, e.Message)
	}
	return fmt.Sprintf("putmedia: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// retryable reports whether the request may succeed later: a server
// error, or a limit that lifts (another producer's connection ending).
func (e *HTTPError) retryable() bool {
	switch e.Type {
	case "ConnectionLimitExceededException", "ClientLimitExceededException", "ThrottlingException":
		return true
	}
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// AckError is an ERROR ack that ended a connection.
type AckError struct{ Ack Ack }

func (e *AckError) Error() string {
	return fmt.Sprintf("putmedia: ERROR %d %s (fragment timecode %d)", e.Ack.ErrorID, e.Ack.ErrorCode, e.Ack.Timecode())
}

// resendable reports whether the fragment of an ERROR ack should be sent
// again: the server or the session failed, not the fragment (the
// Kinesis Video PutMedia API reference's error ids).
func resendable(id int) bool {
	switch {
	case id == 4000, id == 4003: // STREAM_READ_ERROR, MAX_CONNECTION_DURATION_REACHED
		return true
	case id >= 4500 && id <= 4506: // KMS key access: fixed by the owner, then resent
		return true
	case id >= 5000: // INTERNAL_ERROR, ARCHIVAL_ERROR
		return true
	}
	return false
}

// streamNotActive (STREAM_NOT_ACTIVE: the stream was deleted) ends Run.
const streamNotActive = 4008

// send connects, reconnects and rotates connections until every session
// is done and acknowledged.
func (p *Producer) send(ctx context.Context, buf *buffer, srcDone <-chan struct{}) error {
	backoff := p.MinBackoff
	for {
		wait := buf.wait()
		s := buf.first()
		if s == nil {
			select {
			case <-srcDone:
				if buf.first() == nil {
					return nil
				}
			case <-wait:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		if c, _ := buf.next(s, 0); c == nil {
			// Nothing to send yet: no idle connection.
			select {
			case <-wait:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		progress, err := p.connection(ctx, buf, s)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var he *HTTPError
		if errors.As(err, &he) && !he.retryable() {
			return err
		}
		var ae *AckError
		if errors.As(err, &ae) && ae.Ack.ErrorID == streamNotActive {
			return err
		}
		if progress {
			backoff = p.MinBackoff
		}
		if err == nil {
			continue // rotated, or the session is complete
		}
		p.Logger.Warn("connection ended; reconnecting", "error", err, "retry_in", backoff, "unacknowledged", buf.count())
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(backoff*2, p.MaxBackoff)
	}
}

// conn is the state of one connection shared by its writer, reader and
// watchdog.
type conn struct {
	sent     sync.Map     // timecode → *pending written on this connection
	lastSeq  atomic.Int64 // seq of the last cluster written, -1 before
	lastAck  atomic.Int64 // unix ns of the last ack read (or of the start)
	rotated  atomic.Bool
	progress atomic.Bool
}

// connection runs one PutMedia connection for session s: the header and
// every unacknowledged cluster of s, then new clusters as they come. It
// returns nil when the session is complete or the connection was rotated,
// and whether any cluster was acknowledged.
func (p *Producer) connection(ctx context.Context, buf *buffer, s *session) (bool, error) {
	var resend []*pending
	for _, c := range buf.snapshot(s) {
		if c.sent.Load() {
			resend = append(resend, c)
		}
	}
	if len(resend) > 0 {
		p.dropStored(ctx, buf, s, resend)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, p.Endpoint+"/putMedia", pr)
	if err != nil {
		return false, err
	}
	// One TCP connection per session: it lasts up to MaxConnectionAge
	// anyway, and no idle full-duplex connection is reused.
	req.Close = true
	if p.isARN() {
		req.Header.Set("x-amzn-stream-arn", p.Stream)
	} else {
		req.Header.Set("x-amzn-stream-name", p.Stream)
	}
	typ := TimecodeAbsolute
	if s.relative {
		typ = TimecodeRelative
	}
	ms := s.start.UnixMilli()
	req.Header.Set("x-amzn-fragment-timecode-type", typ)
	req.Header.Set("x-amzn-producer-start-timestamp", fmt.Sprintf("%d.%03d", ms/1000, ms%1000))
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	if err := p.sign(ctx, req); err != nil {
		return false, err
	}

	c := &conn{}
	c.lastSeq.Store(-1)
	c.lastAck.Store(time.Now().UnixNano())
	opened := time.Now()
	go p.write(cctx, buf, s, pw, c, opened)
	go p.watch(cctx, cancel, buf, s, c)

	resp, err := p.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("putmedia: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, readHTTPError(resp)
	}
	p.Logger.Info("connected", "proto", resp.Proto, "unacknowledged", len(buf.snapshot(s)))
	err = p.readAcks(resp.Body, buf, s, c)
	if err == nil {
		buf.mu.Lock()
		complete := s.done && len(s.pending) == 0
		left := len(s.pending)
		buf.mu.Unlock()
		switch {
		case complete:
			buf.gc(s)
		case c.rotated.Load():
			p.Logger.Info("connection rotated", "age", time.Since(opened).Round(time.Second))
		case left == 0:
			// Nothing in flight: the server closed an idle connection
			// (KVS does after 30 s without data); the next cluster opens
			// another.
			p.Logger.Info("the server closed an idle connection")
		default:
			err = fmt.Errorf("putmedia: the server ended the connection with %d clusters unacknowledged", left)
		}
	}
	if err != nil && cctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("putmedia: no acknowledgement for %v", p.AckTimeout)
	}
	return c.progress.Load(), err
}

// write sends the header, then the session's clusters in order, each
// once; it ends the body when the session is done (all sent) or at the
// rotation age.
func (p *Producer) write(ctx context.Context, buf *buffer, s *session, pw *io.PipeWriter, c *conn, opened time.Time) {
	if _, err := pw.Write(s.header); err != nil {
		return
	}
	rotate := time.NewTimer(p.MaxConnectionAge)
	defer rotate.Stop()
	var from uint64
	for {
		wait := buf.wait()
		next, done := buf.next(s, from)
		if next != nil {
			c.sent.Store(next.timecode, next)
			data, err := buf.load(next)
			if errors.Is(err, os.ErrNotExist) {
				from = next.seq + 1 // dropped (buffer full) since: skip it
				continue
			}
			if err != nil {
				// Acknowledged or dropped meanwhile (its file is gone), or
				// the disk failed: end the connection, the next resends.
				p.Logger.Warn("cannot read a buffered cluster", "error", err)
				pw.CloseWithError(err)
				return
			}
			resent := next.sent.Swap(true)
			if _, err := pw.Write(data); err != nil {
				return
			}
			from = next.seq + 1
			c.lastSeq.Store(int64(next.seq))
			if p.OnCluster != nil {
				p.OnCluster(ClusterSent{Timecode: next.timecode, ProducerTime: next.at, Bytes: len(data),
					Sent: time.Now(), Resent: resent})
			}
			continue
		}
		if done {
			pw.Close()
			return
		}
		select {
		case <-wait:
		case <-rotate.C:
			c.rotated.Store(true)
			pw.Close() // at a cluster boundary: the server acks what it has
			return
		case <-ctx.Done():
			return
		}
	}
}

// watch ends the connection when clusters sent on it wait longer than
// AckTimeout with no ack at all.
func (p *Producer) watch(ctx context.Context, cancel context.CancelFunc, buf *buffer, s *session, c *conn) {
	t := time.NewTicker(min(time.Second, p.AckTimeout/4))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, c.lastAck.Load())) < p.AckTimeout {
			continue
		}
		if first, _ := buf.next(s, 0); first != nil && int64(first.seq) <= c.lastSeq.Load() {
			p.Logger.Warn("no acknowledgement: dropping the connection", "wait", p.AckTimeout)
			cancel()
			return
		}
	}
}

// readAcks reads the acks until the server ends the response (nil) or an
// ERROR ack or a read error ends the connection.
func (p *Producer) readAcks(body io.Reader, buf *buffer, s *session, c *conn) error {
	ar := kvsapi.NewAckReader(body)
	for {
		ack, raw, err := ar.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("putmedia: %w", err)
		}
		c.lastAck.Store(time.Now().UnixNano())
		if p.OnAck != nil {
			p.OnAck(ack)
		}
		if p.OnAckJSON != nil {
			p.OnAckJSON(ack, raw)
		}
		tc := ack.Timecode()
		switch ack.EventType {
		case p.ReleaseOn:
			if _, ok := c.sent.Load(tc); ok && buf.remove(s, tc) {
				c.progress.Store(true)
			}
		case EventError:
			if _, ok := c.sent.Load(tc); ok && !resendable(ack.ErrorID) {
				p.Logger.Warn("the server refused a fragment: dropped", "timecode", tc,
					"error_id", ack.ErrorID, "error_code", ack.ErrorCode)
				buf.remove(s, tc)
			}
			return &AckError{Ack: ack}
		}
	}
}

// sign signs req with SigV4 and the empty payload's hash, unless the
// producer has no credentials.
func (p *Producer) sign(ctx context.Context, req *http.Request) error {
	if p.Credentials == nil {
		return nil
	}
	if _, ok := p.Credentials.(aws.AnonymousCredentials); ok {
		return nil
	}
	creds, err := p.Credentials.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("putmedia: credentials: %w", err)
	}
	return v4.NewSigner().SignHTTP(ctx, creds, req, kvsapi.EmptyPayloadHash, "kinesisvideo", p.Region, time.Now())
}

// readHTTPError reads a refused request's AWS error.
func readHTTPError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &HTTPError{Status: resp.StatusCode, Type: resp.Header.Get("x-amzn-ErrorType"), Message: strings.TrimSpace(string(b))}
	var body struct {
		Type     string `json:"__type"`
		Message  string `json:"message"`
		MessageU string `json:"Message"`
	}
	if json.Unmarshal(b, &body) == nil {
		if e.Type == "" {
			e.Type = body.Type
		}
		if body.Message != "" {
			e.Message = body.Message
		} else if body.MessageU != "" {
			e.Message = body.MessageU
		}
	}
	// "com.amazon...#Foo:bar" → "Foo", as the SDKs read it.
	if i := strings.LastIndexByte(e.Type, '#'); i >= 0 {
		e.Type = e.Type[i+1:]
	}
	e.Type, _, _ = strings.Cut(e.Type, ":")
	return e
}

// dropStored drops, before they are sent again, the clusters the server
// stored although their PERSISTED ack never arrived (it stopped between
// making a fragment durable and acknowledging it): ListFragments over
// their producer time range tells which. On failure all are resent.
func (p *Producer) dropStored(ctx context.Context, buf *buffer, s *session, resend []*pending) {
	client := kinesisvideoarchivedmedia.New(kinesisvideoarchivedmedia.Options{
		Region: p.Region, BaseEndpoint: aws.String(p.Endpoint), Credentials: p.creds(), HTTPClient: p.HTTPClient,
		RetryMaxAttempts: 1,
	})
	from, to := resend[0].at, resend[len(resend)-1].at
	in := &kinesisvideoarchivedmedia.ListFragmentsInput{
		FragmentSelector: &amtypes.FragmentSelector{
			FragmentSelectorType: amtypes.FragmentSelectorTypeProducerTimestamp,
			TimestampRange:       &amtypes.TimestampRange{StartTimestamp: aws.Time(from.Add(-time.Millisecond)), EndTimestamp: aws.Time(to.Add(time.Millisecond))},
		},
	}
	in.StreamName, in.StreamARN = p.streamRef()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stored := map[int64]bool{}
	pg := kinesisvideoarchivedmedia.NewListFragmentsPaginator(client, in)
	for pg.HasMorePages() {
		out, err := pg.NextPage(lctx)
		if err != nil {
			p.Logger.Info("cannot list the stored fragments; resending every unacknowledged cluster", "error", err)
			return
		}
		for _, f := range out.Fragments {
			if f.ProducerTimestamp != nil {
				stored[f.ProducerTimestamp.UnixMilli()] = true
			}
		}
	}
	for _, c := range resend {
		if stored[c.at.UnixMilli()] {
			p.Logger.Info("cluster already stored (its ack was lost): not resent", "timecode", c.timecode)
			buf.remove(s, c.timecode)
		}
	}
}

// creds are the credentials of the SDK client (anonymous when none).
func (p *Producer) creds() aws.CredentialsProvider {
	if p.Credentials == nil {
		return aws.AnonymousCredentials{}
	}
	return p.Credentials
}
