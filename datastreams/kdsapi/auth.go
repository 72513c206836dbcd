package kdsapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// Who may do what. With API.Auth set, every request is authenticated
// (SigV4, signing name "kinesis") before its body is decoded, and each
// operation is authorized as IAM names it, kinesis:<Operation>, on the
// stream its input names, resolved exactly as the operation resolves it:
// StreamName or StreamARN, a ConsumerARN's or ResourceARN's stream, the
// stream inside a ShardIterator or a ListShards NextToken. Operations that
// name no stream (ListStreams, DescribeLimits) need the action on some
// stream pattern, as IAM evaluates them on "*"; ListStreams then lists
// only the streams the identity may ListStreams, an addition to IAM so
// that a credential scoped to "cam-*" does not learn the other names.

// signingName is the service name Kinesis Data Streams requests are
// signed for.
const signingName = "kinesis"

// caller is the authenticated identity of a request and the action its
// operation needs.
type caller struct {
	id     *awsauth.Identity
	action string
}

type callerKey struct{}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	return c
}

// authError is a refused request: AWS's error type and message, and the
// identity it claimed.
type authError struct {
	f   *awsauth.Failure
	who string
}

func (e *authError) Error() string { return e.f.Error.Error() }

// authenticate verifies r's signature; on success ctx carries the caller.
func (a *API) authenticate(ctx context.Context, r *http.Request, operation string, body []byte) (context.Context, error) {
	if a.Auth == nil {
		return ctx, nil
	}
	id, f := a.Auth.Verify(r, signingName, body)
	if f != nil {
		return ctx, &authError{f: f, who: awsauth.ClaimedKeyID(r)}
	}
	return context.WithValue(ctx, callerKey{}, &caller{id: id, action: signingName + ":" + operation}), nil
}

// streamTarget is an operation input that names the stream it acts on.
type streamTarget interface {
	// target returns the stream's name, resolved as the operation
	// resolves it ("" when the input names none), or the error the
	// operation would give for an input that names none properly.
	target(a *API) (string, error)
}

// authorize checks that the caller (if any) may perform its action on
// the stream in names.
func (a *API) authorize(ctx context.Context, in any) error {
	c := callerOf(ctx)
	if c == nil {
		return nil
	}
	stream := ""
	if t, ok := in.(streamTarget); ok {
		var err error
		if stream, err = t.target(a); err != nil {
			return err
		}
	}
	if c.id.Allowed(c.action, stream) {
		return nil
	}
	resource := stream
	if resource == "" {
		resource = "*"
	}
	return &authError{f: awsauth.AccessDenied(c.id, a.account(), c.action, a.Core.StreamARN(resource)), who: c.id.AccessKeyID}
}

// mayList reports whether ListStreams shows stream to the caller.
func (a *API) mayList(ctx context.Context, stream string) bool {
	c := callerOf(ctx)
	return c == nil || c.id.Allowed(signingName+":ListStreams", stream)
}

func (a *API) account() string {
	if a.Account != "" {
		return a.Account
	}
	return a.Core.AccountID
}

// refuse answers a refused request as AWS does (HTTP 400, the error type
// in __type and x-amzn-ErrorType), after telling OnFailure.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, cd codec, e *authError) {
	if a.OnFailure != nil {
		a.OnFailure(r, e.f, e.who)
	}
	b, _ := cd.encode(errorBody{Type: e.f.Type, Message: e.f.Message})
	w.Header().Set("Content-Type", cd.contentType())
	w.Header().Set("x-amzn-ErrorType", e.f.Type)
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}

// The streams operation inputs name, for authorization.

func (ref *streamRef) target(a *API) (string, error) { return a.refName(*ref) }

func (in *createStreamIn) target(*API) (string, error) {
	if in.StreamName == nil {
		return "", nil
	}
	return *in.StreamName, nil
}

func (in *listShardsIn) target(a *API) (string, error) {
	if in.NextToken == nil {
		return in.streamRef.target(a)
	}
	scope, _, err := a.Core.ParsePageToken(*in.NextToken)
	name, _, _ := strings.Cut(scope, "|")
	return name, err
}

func (in *getRecordsIn) target(a *API) (string, error) {
	if in.ShardIterator == nil {
		return "", nil
	}
	it, err := a.Core.ParseIterator(*in.ShardIterator)
	return it.Stream, err
}

// consumerIn names its consumer by ConsumerARN first, as consumer does.
func (in *consumerIn) target(a *API) (string, error) {
	if in.ConsumerARN == nil {
		return arnTarget(a, in.StreamARN)
	}
	stream, _, _, err := a.consumerRef(in)
	return stream, err
}

func (in *registerConsumerIn) target(a *API) (string, error) { return arnTarget(a, in.StreamARN) }

func (in *listConsumersIn) target(a *API) (string, error) { return arnTarget(a, in.StreamARN) }

func (in *updateStreamModeIn) target(a *API) (string, error) { return arnTarget(a, in.StreamARN) }

func (in *tagResourceIn) target(a *API) (string, error) { return arnTarget(a, in.ResourceARN) }

func (in *untagResourceIn) target(a *API) (string, error) { return arnTarget(a, in.ResourceARN) }

func (in *listTagsForResourceIn) target(a *API) (string, error) { return arnTarget(a, in.ResourceARN) }

func (in *subscribeIn) target(a *API) (string, error) {
	return (&consumerIn{ConsumerARN: in.ConsumerARN}).target(a)
}

// arnTarget is the stream of an input that names it by ARN only.
func arnTarget(a *API, arn *string) (string, error) {
	if arn == nil {
		return "", nil
	}
	return a.refName(streamRef{StreamARN: arn})
}
