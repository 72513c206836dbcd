package kdsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/datastreams/awsauth"
	"github.com/eddy-video/eddy/datastreams/logstore"
)

// API serves the Kinesis Data Streams API (awsJson1_1 and its CBOR
// variant) for a Core: every operation is POST / with
// X-Amz-Target: Kinesis_20131202.<Operation>.
type API struct {
	Core   *datastreams.Core
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (default 7 MiB; larger → 413).
	MaxBodyBytes int64

	// ReservedSuffix, when set, ends the names kept for another layer's
	// streams (Eddy: the event streams of video streams, ".events"):
	// CreateStream refuses them with InvalidArgumentException.
	ReservedSuffix string

	// Auth, when set, authenticates every request (SigV4) and authorizes
	// kinesis:<Operation> on the stream it names (see auth.go). Nil: no
	// authentication.
	Auth *awsauth.Verifier
	// Account names principals and streams in AccessDeniedException
	// messages (default: the core's account).
	Account string
	// OnFailure, when set, is told of every refused request before it is
	// answered, with the access key id it claimed ("" if none): the
	// server counts and logs it there, and may delay the answer.
	OnFailure func(r *http.Request, f *awsauth.Failure, who string)
	// Registerer receives the eddy_kds_* series of the API (nil: none).
	Registerer prometheus.Registerer
	// WriteTimeout bounds each SubscribeToShard event's write (0: 10 s):
	// a consumer that stops reading is cut, its handler returns and its
	// buffers are freed; OnReaderCut, when set, counts it.
	WriteTimeout time.Duration
	OnReaderCut  func()

	once     sync.Once
	ctx      context.Context
	shutdown context.CancelFunc
	subs     subscriptions
	metrics  *apiMetrics
}

const targetPrefix = "Kinesis_20131202."

type opFunc func(a *API, ctx context.Context, cd codec, body []byte) (any, error)

// handle adapts a typed operation to the dispatcher: decode In, call, return Out.
func handle[In, Out any](fn func(*API, context.Context, *In) (*Out, error)) opFunc {
	return func(a *API, ctx context.Context, cd codec, body []byte) (any, error) {
		in := new(In)
		if len(body) > 0 {
			if err := cd.decode(body, in); err != nil {
				return nil, errf(datastreams.KindSerialization, "Could not parse request body: %v", err)
			}
		}
		if err := a.authorize(ctx, in); err != nil {
			return nil, err
		}
		return fn(a, ctx, in)
	}
}

var operations map[string]opFunc

func init() {
	operations = map[string]opFunc{
		"CreateStream":                  handle((*API).createStream),
		"DeleteStream":                  handle((*API).deleteStream),
		"DescribeStream":                handle((*API).describeStream),
		"DescribeStreamSummary":         handle((*API).describeStreamSummary),
		"ListStreams":                   handle((*API).listStreams),
		"ListShards":                    handle((*API).listShards),
		"PutRecord":                     handle((*API).putRecord),
		"PutRecords":                    handle((*API).putRecords),
		"GetShardIterator":              handle((*API).getShardIterator),
		"GetRecords":                    handle((*API).getRecords),
		"SplitShard":                    handle((*API).splitShard),
		"MergeShards":                   handle((*API).mergeShards),
		"UpdateShardCount":              handle((*API).updateShardCount),
		"IncreaseStreamRetentionPeriod": handle((*API).increaseRetention),
		"DecreaseStreamRetentionPeriod": handle((*API).decreaseRetention),
		"AddTagsToStream":               handle((*API).addTagsToStream),
		"RemoveTagsFromStream":          handle((*API).removeTagsFromStream),
		"ListTagsForStream":             handle((*API).listTagsForStream),
		"TagResource":                   handle((*API).tagResource),
		"UntagResource":                 handle((*API).untagResource),
		"ListTagsForResource":           handle((*API).listTagsForResource),
		"RegisterStreamConsumer":        handle((*API).registerConsumer),
		"DescribeStreamConsumer":        handle((*API).describeConsumer),
		"ListStreamConsumers":           handle((*API).listConsumers),
		"DeregisterStreamConsumer":      handle((*API).deregisterConsumer),
		"EnableEnhancedMonitoring":      handle((*API).enableMonitoring),
		"DisableEnhancedMonitoring":     handle((*API).disableMonitoring),
		"DescribeLimits":                handle((*API).describeLimits),
		"StartStreamEncryption":         handle((*API).startEncryption),
		"StopStreamEncryption":          handle((*API).stopEncryption),
		"UpdateStreamMode":              handle((*API).updateStreamMode),
	}
}

func (a *API) init() {
	a.once.Do(func() {
		if a.Logger == nil {
			a.Logger = slog.Default()
		}
		a.Logger = a.Logger.With("component", "kds-api")
		if a.MaxBodyBytes <= 0 {
			a.MaxBodyBytes = 7 << 20
		}
		a.ctx, a.shutdown = context.WithCancel(context.Background())
		a.metrics = newAPIMetrics()
		if a.Registerer != nil {
			a.metrics.register(a.Registerer, a)
		}
	})
}

// Shutdown ends long-lived responses (SubscribeToShard) so that the HTTP
// server can finish.
func (a *API) Shutdown() {
	a.init()
	a.shutdown()
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.init()
	rq := &request{m: a.metrics, a: a, started: time.Now()}
	defer rq.done()
	w = statusWriter{ResponseWriter: w, rq: rq}
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	cd, ok := codecFor(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost {
		a.writeError(w, cd, errf(datastreams.KindSerialization, "Kinesis operations use POST."))
		return
	}
	if !ok {
		a.writeError(w, cd, errf(datastreams.KindSerialization, "Unsupported Content-Type %q.", r.Header.Get("Content-Type")))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, found := strings.CutPrefix(target, targetPrefix)
	op := operations[name]
	if !found || (op == nil && name != "SubscribeToShard") {
		a.writeError(w, cd, errf(datastreams.KindUnknownOperation, "Unknown operation %q.", target))
		return
	}
	rq.op = name
	body, err := readBody(http.MaxBytesReader(w, r.Body, a.MaxBodyBytes), r.ContentLength, a.MaxBodyBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Content-Type", cd.contentType())
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		a.writeError(w, cd, errf(datastreams.KindSerialization, "Could not read request body."))
		return
	}
	ctx, err := a.authenticate(r.Context(), r, name, body)
	if err != nil {
		a.fail(w, r, cd, err)
		return
	}
	ctx = context.WithValue(ctx, requestKey{}, rq)
	if name == "SubscribeToShard" {
		a.subscribeToShard(w, r.WithContext(ctx), cd, body)
		return
	}
	out, err := op(a, ctx, cd, body)
	if err != nil {
		a.fail(w, r, cd, err)
		return
	}
	a.writeOK(w, cd, out)
}

// fail answers a failed request: refusals as AWS refuses, the rest from
// the error table.
func (a *API) fail(w http.ResponseWriter, r *http.Request, cd codec, err error) {
	var refused *authError
	if errors.As(err, &refused) {
		a.refuse(w, r, cd, refused)
		return
	}
	a.writeError(w, cd, err)
}

// readBody reads a request body in one allocation when its length is known.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	b := make([]byte, length+1) // one spare byte to see a body longer than declared
	n, err := io.ReadFull(r, b)
	if err == io.ErrUnexpectedEOF && int64(n) == length {
		return b[:n], nil
	}
	if err != nil {
		return nil, err
	}
	return nil, errors.New("request body longer than its Content-Length")
}

func (a *API) writeOK(w http.ResponseWriter, cd codec, out any) {
	b, err := cd.encode(out)
	if err != nil {
		a.writeError(w, cd, err)
		return
	}
	w.Header().Set("Content-Type", cd.contentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

func (a *API) writeError(w http.ResponseWriter, cd codec, err error) {
	code, status, msg := ErrorCode(err)
	// A full disk is logged by the core once per episode, not per
	// request; an object store out of reach by the tier.
	if status >= 500 && !datastreams.IsNoSpace(err) && !errors.Is(err, logstore.ErrUnavailable) {
		a.Logger.Error("internal failure", "err", err)
	}
	b, _ := cd.encode(errorBody{Type: code, Message: msg})
	w.Header().Set("Content-Type", cd.contentType())
	w.Header().Set("x-amzn-ErrorType", code)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// validator collects constraint violations in the Kinesis message form
// ("1 validation error detected: Value 'x' at 'streamName' failed to
// satisfy constraint: ...").
type validator struct{ errs []string }

func (v *validator) add(value any, member, constraint string) {
	val := "null"
	if value != nil {
		val = fmt.Sprintf("'%v'", value)
	}
	v.errs = append(v.errs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", val, member, constraint))
}

func (v *validator) required(ok bool, member string) {
	if !ok {
		v.add(nil, member, "Member must not be null")
	}
}

func (v *validator) name(s *string, member string, required bool) {
	if s == nil {
		if required {
			v.required(false, member)
		}
		return
	}
	if len(*s) < 1 || len(*s) > 128 {
		v.add(*s, member, "Member must have length between 1 and 128")
	} else if !datastreams.ValidName(*s) {
		v.add(*s, member, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	}
}

func (v *validator) intRange(n *int, member string, lo, hi int) {
	if n == nil {
		return
	}
	if *n < lo {
		v.add(*n, member, fmt.Sprintf("Member must have value greater than or equal to %d", lo))
	} else if *n > hi {
		v.add(*n, member, fmt.Sprintf("Member must have value less than or equal to %d", hi))
	}
}

func (v *validator) err() error {
	switch n := len(v.errs); {
	case n == 0:
		return nil
	case n > 10:
		v.errs = v.errs[:10]
	}
	noun := "error"
	if len(v.errs) > 1 {
		noun = "errors"
	}
	return errf(datastreams.KindValidation, "%d validation %s detected: %s", len(v.errs), noun, strings.Join(v.errs, "; "))
}
