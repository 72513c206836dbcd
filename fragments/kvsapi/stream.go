package kvsapi

import (
	"strings"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/fragments"
)

// StreamRef is how a request names a video stream: by StreamName, by
// StreamARN, or by both when they agree.
type StreamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// ref returns the stream reference of a request type that embeds a
// StreamRef.
func (r StreamRef) ref() StreamRef { return r }

// Resolver turns the stream names and ARNs of requests into video
// streams. It is the one resolver of every Kinesis Video operation, so a
// bad name, an unknown stream, a name and ARN that disagree or the ARN of
// a data stream get the same error type and message from all of them.
type Resolver struct {
	Videos *fragments.Manager
}

// Name returns the name ref resolves to, without looking the stream up.
func (rv *Resolver) Name(ref StreamRef) (string, error) {
	switch {
	case ref.StreamARN != nil:
		n, err := rv.nameFromARN("StreamARN", *ref.StreamARN)
		if err != nil {
			return "", err
		}
		if ref.StreamName != nil && *ref.StreamName != n {
			if err := CheckName("StreamName", *ref.StreamName); err != nil {
				return "", err
			}
			return "", Errorf(CodeInvalidArgument, "StreamName %s and StreamARN %s name different streams.", *ref.StreamName, *ref.StreamARN)
		}
		return n, nil
	case ref.StreamName != nil:
		return *ref.StreamName, CheckName("StreamName", *ref.StreamName)
	}
	return "", Errorf(CodeInvalidArgument, "Either StreamName or StreamARN must be provided.")
}

// ResourceName resolves an ARN-only member (DeleteStream's StreamARN, the
// tagging operations' ResourceARN).
func (rv *Resolver) ResourceName(field string, arn *string) (string, error) {
	if arn == nil {
		return "", Errorf(CodeInvalidArgument, "%s is required.", field)
	}
	return rv.nameFromARN(field, *arn)
}

// Describe resolves ref and describes the stream: ResourceNotFound when
// there is none.
func (rv *Resolver) Describe(ref StreamRef) (fragments.VideoStream, error) {
	name, err := rv.Name(ref)
	if err != nil {
		return fragments.VideoStream{}, err
	}
	return rv.Videos.Describe(name)
}

// Archive resolves ref to the fragment store of a stream that keeps data:
// the archived-media operations and HLS need one (NoDataRetention
// otherwise).
func (rv *Resolver) Archive(ref StreamRef) (*fragments.Store, fragments.VideoStream, error) {
	d, err := rv.Describe(ref)
	if err != nil {
		return nil, d, err
	}
	if d.DataRetentionInHours == 0 {
		return nil, d, Errorf(CodeNoDataRetention, "The stream %s has a data retention of 0 hours: nothing is archived.", d.Name)
	}
	st, err := rv.Videos.Store(d.Name)
	return st, d, err
}

// nameFromARN reads a Kinesis Video stream ARN
// (arn:aws:kinesisvideo:REGION:ACCOUNT:stream/NAME/CREATION-MILLIS).
func (rv *Resolver) nameFromARN(field, arn string) (string, error) {
	if n, ok := rv.Videos.NameFromARN(arn); ok {
		return n, nil
	}
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 && parts[0] == "arn" && parts[2] == "kinesis" {
		return "", Errorf(CodeInvalidArgument, "%s %s is the ARN of a Kinesis data stream; Kinesis Video operations take the ARN of a video stream (arn:aws:kinesisvideo:...).", field, arn)
	}
	return "", Errorf(CodeInvalidArgument, "%s %s is not a valid Kinesis Video stream ARN.", field, arn)
}

// CheckName validates a stream name a request carries in member field.
func CheckName(field, name string) error {
	if !datastreams.ValidName(name) {
		return Errorf(CodeInvalidArgument, "%s %q is invalid: it must match [a-zA-Z0-9_.-]+ and be 1 to 256 characters long.", field, name)
	}
	if fragments.CheckName(name) != nil {
		return Errorf(CodeInvalidArgument, "%s %q is invalid: names ending in %q are reserved for the event streams of video streams.", field, name, fragments.EventsSuffix)
	}
	return nil
}
