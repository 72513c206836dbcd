package datastreams

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Enhanced fan-out consumers: Register/Describe/List/DeregisterStreamConsumer.

const maxConsumers = 20

// ConsumerARN returns the ARN of a consumer registered at created.
func (c *Core) ConsumerARN(stream, consumer string, created time.Time) string {
	return fmt.Sprintf("%s/consumer/%s:%d", c.StreamARN(stream), consumer, created.Unix())
}

// parseConsumerARN splits arn:aws:kinesis:R:A:stream/S/consumer/C:T.
func (c *Core) parseConsumerARN(arn string) (stream, consumer string, created int64, ok bool) {
	stream, ok = c.StreamNameFromARN(arn)
	if !ok {
		return "", "", 0, false
	}
	i := strings.Index(arn, "/consumer/")
	if i < 0 {
		return "", "", 0, false
	}
	rest := arn[i+len("/consumer/"):]
	j := strings.LastIndexByte(rest, ':')
	if j < 0 {
		return "", "", 0, false
	}
	created, err := strconv.ParseInt(rest[j+1:], 10, 64)
	if err != nil || !ValidName(rest[:j]) {
		return "", "", 0, false
	}
	return stream, rest[:j], created, true
}

// consumer finds a consumer by ConsumerARN, or by StreamARN and name.
func (a *API) consumer(in *consumerIn) (*Stream, consumerMeta, error) {
	var streamName, name string
	var created int64 = -1
	switch {
	case in.ConsumerARN != nil:
		var ok bool
		streamName, name, created, ok = a.Core.parseConsumerARN(*in.ConsumerARN)
		if !ok {
			return nil, consumerMeta{}, errf(KindInvalidArgument, "ConsumerARN %s is not a valid consumer ARN.", *in.ConsumerARN)
		}
	case in.StreamARN != nil && in.ConsumerName != nil:
		var ok bool
		if streamName, ok = a.Core.StreamNameFromARN(*in.StreamARN); !ok {
			return nil, consumerMeta{}, errf(KindInvalidArgument, "StreamARN %s is not a valid Kinesis stream ARN.", *in.StreamARN)
		}
		name = *in.ConsumerName
	default:
		return nil, consumerMeta{}, errf(KindInvalidArgument, "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
	}
	s, err := a.dataStream(streamName)
	if err != nil {
		return nil, consumerMeta{}, err
	}
	for _, c := range s.Info().Consumers {
		if c.Name == name && (created < 0 || c.Created.Unix() == created) {
			return s, c, nil
		}
	}
	return nil, consumerMeta{}, errf(KindNotFound, "Consumer %s under stream %s under account %s not found.", name, streamName, a.Core.AccountID)
}

func (a *API) consumerToWire(s *Stream, c consumerMeta, withStream bool) consumerOut {
	o := consumerOut{ConsumerName: c.Name, ConsumerARN: a.Core.ConsumerARN(s.Name(), c.Name, c.Created),
		ConsumerStatus: c.Status, ConsumerCreationTimestamp: Ts(c.Created)}
	if withStream {
		o.StreamARN = a.Core.StreamARN(s.Name())
	}
	return o
}

func (a *API) registerConsumer(_ context.Context, in *consumerIn) (*registerConsumerOut, error) {
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
	c := consumerMeta{Name: *in.ConsumerName, Created: a.Core.Now().UTC().Truncate(time.Second), Status: StatusActive}
	if a.Core.TransitionDelay > 0 {
		c.Status = StatusCreating
	}
	err = s.Update(func(m *streamMeta) error {
		for _, x := range m.Consumers {
			if x.Name == c.Name {
				return errf(KindInUse, "Consumer %s under stream %s already exists for account %s.", c.Name, s.Name(), a.Core.AccountID)
			}
		}
		if len(m.Consumers) >= maxConsumers {
			return errf(KindLimit, "Consumer limit of %d for stream %s under account %s exceeded.", maxConsumers, s.Name(), a.Core.AccountID)
		}
		m.Consumers = append(m.Consumers, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.Status == StatusCreating {
		a.Core.after(func() {
			_ = s.Update(func(m *streamMeta) error {
				for i := range m.Consumers {
					if m.Consumers[i].Name == c.Name && m.Consumers[i].Created.Equal(c.Created) {
						m.Consumers[i].Status = StatusActive
					}
				}
				return nil
			})
		})
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
			return nil, errf(KindInvalidArgument, "Invalid NextToken.")
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
	err = s.Update(func(m *streamMeta) error {
		kept := m.Consumers[:0]
		for _, x := range m.Consumers {
			if x.Name != c.Name {
				kept = append(kept, x)
			}
		}
		m.Consumers = kept
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.endSubscriptions(c.Name, errf(KindNotFound, "Consumer %s under stream %s under account %s was deregistered.", c.Name, s.Name(), a.Core.AccountID))
	return &empty{}, nil
}
