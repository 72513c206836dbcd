package kdsapi

import (
	"context"
	"sort"

	"github.com/eddy-video/eddy/datastreams"
)

// Enhanced fan-out consumers: Register/Describe/List/DeregisterStreamConsumer.

// consumerRef is the stream, name and creation time (-1: any) of the
// consumer a request names by ConsumerARN, or by StreamARN and name.
func (a *API) consumerRef(in *consumerIn) (streamName, name string, created int64, err error) {
	switch {
	case in.ConsumerARN != nil:
		var ok bool
		streamName, name, created, ok = a.Core.ParseConsumerARN(*in.ConsumerARN)
		if !ok {
			return "", "", 0, errf(datastreams.KindInvalidArgument, "ConsumerARN %s is not a valid consumer ARN.", *in.ConsumerARN)
		}
		return streamName, name, created, nil
	case in.StreamARN != nil && in.ConsumerName != nil:
		var ok bool
		if streamName, ok = a.Core.StreamNameFromARN(*in.StreamARN); !ok {
			return "", "", 0, errf(datastreams.KindInvalidArgument, "StreamARN %s is not a valid Kinesis stream ARN.", *in.StreamARN)
		}
		return streamName, *in.ConsumerName, -1, nil
	}
	return "", "", 0, errf(datastreams.KindInvalidArgument, "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
}

// consumer finds a consumer by ConsumerARN, or by StreamARN and name.
func (a *API) consumer(in *consumerIn) (*datastreams.Stream, datastreams.Consumer, error) {
	streamName, name, created, err := a.consumerRef(in)
	if err != nil {
		return nil, datastreams.Consumer{}, err
	}
	s, err := a.dataStream(streamName)
	if err != nil {
		return nil, datastreams.Consumer{}, err
	}
	for _, c := range s.Info().Consumers {
		if c.Name == name && (created < 0 || c.Created.Unix() == created) {
			return s, c, nil
		}
	}
	return nil, datastreams.Consumer{}, errf(datastreams.KindNotFound, "Consumer %s under stream %s under account %s not found.", name, streamName, a.Core.AccountID)
}

func (a *API) consumerToWire(s *datastreams.Stream, c datastreams.Consumer, withStream bool) consumerOut {
	o := consumerOut{ConsumerName: c.Name, ConsumerARN: a.Core.ConsumerARN(s.Name(), c.Name, c.Created),
		ConsumerStatus: c.Status, ConsumerCreationTimestamp: Ts(c.Created)}
	if withStream {
		o.StreamARN = a.Core.StreamARN(s.Name())
	}
	return o
}

func (a *API) registerConsumer(_ context.Context, in *registerConsumerIn) (*registerConsumerOut, error) {
	var v validator
	v.required(in.StreamARN != nil, "streamARN")
	v.name(in.ConsumerName, "consumerName", true)
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	c, err := s.RegisterConsumer(*in.ConsumerName)
	if err != nil {
		return nil, err
	}
	return &registerConsumerOut{Consumer: a.consumerToWire(s, c, false)}, nil
}

func (a *API) describeConsumer(_ context.Context, in *consumerIn) (*describeConsumerOut, error) {
	s, c, err := a.consumer(in)
	if err != nil {
		return nil, err
	}
	return &describeConsumerOut{ConsumerDescription: a.consumerToWire(s, c, true)}, nil
}

func (a *API) listConsumers(_ context.Context, in *listConsumersIn) (*listConsumersOut, error) {
	var v validator
	v.required(in.StreamARN != nil, "streamARN")
	v.intRange(in.MaxResults, "maxResults", 1, 10000)
	if err := v.err(); err != nil {
		return nil, err
	}
	s, err := a.resolve(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != nil {
		scope, last, err := a.Core.ParsePageToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		if scope != "consumers/"+s.Name() {
			return nil, errf(datastreams.KindInvalidArgument, "Invalid NextToken.")
		}
		after = last
	}
	limit := 100
	if in.MaxResults != nil {
		limit = *in.MaxResults
	}
	out := &listConsumersOut{Consumers: []consumerOut{}}
	consumers := s.Info().Consumers
	sort.Slice(consumers, func(i, j int) bool { return consumers[i].Name < consumers[j].Name })
	for _, c := range consumers {
		if after != "" && c.Name <= after {
			continue
		}
		if len(out.Consumers) == limit {
			out.NextToken = ptr(a.Core.PageToken("consumers/"+s.Name(), out.Consumers[len(out.Consumers)-1].ConsumerName))
			break
		}
		out.Consumers = append(out.Consumers, a.consumerToWire(s, c, false))
	}
	return out, nil
}

func (a *API) deregisterConsumer(_ context.Context, in *consumerIn) (*empty, error) {
	s, c, err := a.consumer(in)
	if err != nil {
		return nil, err
	}
	if err := s.DeregisterConsumer(c.Name); err != nil {
		return nil, err
	}
	a.subs.endConsumer(s, c.Name, errf(datastreams.KindNotFound, "Consumer %s under stream %s under account %s was deregistered.", c.Name, s.Name(), a.Core.AccountID))
	return &empty{}, nil
}
