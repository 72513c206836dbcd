package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// benchTransport counts HTTP attempts and error responses by operation and
// error code, retried attempts included (the SDK retries throttles).
type benchTransport struct {
	base     http.RoundTripper
	attempts atomic.Int64
	dials    atomic.Int64 // connections opened (when the bench built the transport)
	// hideWriteTo hides the WriterTo of request bodies; see RoundTrip.
	hideWriteTo bool

	mu    sync.Mutex
	codes map[string]int64
}

var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"ThrottlingException":                    true,
	"KMSThrottlingException":                 true,
}

// readCloserOnly exposes only Read and Close of a request body.
type readCloserOnly struct{ io.ReadCloser }

func (t *benchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Kinesis_20131202.")
	if t.hideWriteTo && r.Body != nil && r.Body != http.NoBody {
		// smithy-go closes the request body as soon as the response
		// arrives, and its body wrapper's WriteTo then returns io.EOF as an
		// error. When a fast server answers before net/http's write loop
		// has finished its after-body check (a WriteTo into io.Discard),
		// that EOF counts as a failed write: the connection is closed under
		// the response being read ("use of closed network connection") and
		// the SDK retries after a backoff of up to seconds. Hiding WriteTo
		// makes the check use Read, which reports a closed body as a clean
		// EOF.
		r2 := *r
		r2.Body = readCloserOnly{r.Body}
		r = &r2
	}
	resp, err := t.base.RoundTrip(r)
	t.attempts.Add(1)
	if err != nil {
		if r.Context().Err() == nil {
			t.count(op, "transport error")
		}
		return resp, err
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	code := resp.Header.Get("X-Amzn-ErrorType")
	if code == "" {
		// The awsJson protocol names the error in the body's __type.
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		var eb struct {
			Type string `json:"__type"`
			Code string `json:"code"`
		}
		_ = json.Unmarshal(head, &eb)
		code = eb.Type
		if code == "" {
			code = eb.Code
		}
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if code == "" {
		code = "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	t.count(op, code)
	return resp, nil
}

func (t *benchTransport) count(op, code string) {
	t.mu.Lock()
	t.codes[op+": "+code]++
	t.mu.Unlock()
}

func (t *benchTransport) results() kdsHTTPResults {
	r := kdsHTTPResults{Attempts: t.attempts.Load(), Connections: t.dials.Load(), ErrorResponses: map[string]int64{}}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.codes {
		r.ErrorResponses[k] = v
		if _, code, _ := strings.Cut(k, ": "); throttleCodes[code] {
			r.ThrottledAttempts += v
		}
	}
	return r
}

// countingRetryer is the SDK's standard retryer, counting the attempt
// errors it is asked to retry (throttles, connection errors, 5xx).
type countingRetryer struct {
	aws.RetryerV2
	mu    sync.Mutex
	codes map[string]int64
}

func (r *countingRetryer) IsErrorRetryable(err error) bool {
	ok := r.RetryerV2.IsErrorRetryable(err)
	if ok {
		r.mu.Lock()
		r.codes[errorCode(err)]++
		r.mu.Unlock()
	}
	return ok
}

func (r *countingRetryer) counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := make(map[string]int64, len(r.codes))
	for k, v := range r.codes {
		m[k] = v
	}
	return m
}

// errorCode names an SDK error briefly and without per-request details:
// the service's error code when there is one, else the kind of failure.
func errorCode(err error) string {
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		return ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	prefix := ""
	var de *smithy.DeserializationError
	var se *smithyhttp.RequestSendError
	if errors.As(err, &de) {
		prefix = "reading response: "
	} else if errors.As(err, &se) {
		prefix = "sending request: "
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return prefix + oe.Op + ": " + oe.Err.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return prefix + "unexpected EOF"
	}
	for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
		err = u
	}
	s := err.Error()
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return prefix + s
}
