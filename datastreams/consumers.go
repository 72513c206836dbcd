package datastreams

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Enhanced fan-out consumers of a stream: registration, status and ARNs.
// Subscriptions (SubscribeToShard) belong to the API layer.

// Consumer is a registered consumer of a stream, as stream.json keeps it.
type Consumer struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Status  string    `json:"status"`
}

const maxConsumers = 20

// ConsumerARN returns the ARN of a consumer registered at created.
func (c *Core) ConsumerARN(stream, consumer string, created time.Time) string {
	return fmt.Sprintf("%s/consumer/%s:%d", c.StreamARN(stream), consumer, created.Unix())
}

// ParseConsumerARN splits arn:aws:kinesis:R:A:stream/S/consumer/C:T.
func (c *Core) ParseConsumerARN(arn string) (stream, consumer string, created int64, ok bool) {
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

// RegisterConsumer registers a consumer of the stream: CREATING for
// TransitionDelay, then ACTIVE. Names are unique within a stream, and a
// stream has at most 20 consumers.
func (s *Stream) RegisterConsumer(name string) (Consumer, error) {
	c := Consumer{Name: name, Created: s.core.Now().UTC().Truncate(time.Second), Status: StatusActive}
	if s.core.TransitionDelay > 0 {
		c.Status = StatusCreating
	}
	err := s.update(func(m *streamMeta) error {
		for _, x := range m.Consumers {
			if x.Name == c.Name {
				return errf(KindInUse, "Consumer %s under stream %s already exists for account %s.", c.Name, s.name, s.core.AccountID)
			}
		}
		if len(m.Consumers) >= maxConsumers {
			return errf(KindLimit, "Consumer limit of %d for stream %s under account %s exceeded.", maxConsumers, s.name, s.core.AccountID)
		}
		m.Consumers = append(m.Consumers, c)
		return nil
	})
	if err != nil {
		return Consumer{}, err
	}
	if c.Status == StatusCreating {
		s.core.after(func() {
			_ = s.update(func(m *streamMeta) error {
				for i := range m.Consumers {
					if m.Consumers[i].Name == c.Name && m.Consumers[i].Created.Equal(c.Created) {
						m.Consumers[i].Status = StatusActive
					}
				}
				return nil
			})
		})
	}
	return c, nil
}

// DeregisterConsumer removes the named consumer of the stream.
func (s *Stream) DeregisterConsumer(name string) error {
	return s.update(func(m *streamMeta) error {
		kept := m.Consumers[:0]
		for _, x := range m.Consumers {
			if x.Name != name {
				kept = append(kept, x)
			}
		}
		m.Consumers = kept
		return nil
	})
}
