package datastreams

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Shard iterators and paging tokens are opaque to clients: a small binary
// payload plus a truncated HMAC-SHA256 under the data directory's key,
// base64url-encoded. A token cannot be forged or altered, names the stream
// incarnation it was issued for, and carries its issue time for expiry.

const (
	tokenMACSize  = 16
	iteratorTTL   = 5 * time.Minute
	nextTokenTTL  = 300 * time.Second
	tokenIterator = 'I'
	tokenPage     = 'P'
)

var errBadToken = errors.New("invalid token")

func (c *Core) seal(kind byte, payload []byte) string {
	b := make([]byte, 0, 1+len(payload)+tokenMACSize)
	b = append(b, kind)
	b = append(b, payload...)
	m := hmac.New(sha256.New, c.key)
	m.Write(b)
	b = m.Sum(b)[:1+len(payload)+tokenMACSize]
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Core) open(kind byte, tok string) ([]byte, error) {
	if len(tok) > 1024 {
		return nil, errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+tokenMACSize || b[0] != kind {
		return nil, errBadToken
	}
	body := b[:len(b)-tokenMACSize]
	m := hmac.New(sha256.New, c.key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil)[:tokenMACSize], b[len(b)-tokenMACSize:]) {
		return nil, errBadToken
	}
	return body[1:], nil
}

// Iterator is a decoded shard iterator.
type Iterator struct {
	Stream  string
	Created int64 // stream creation, Unix nanoseconds: tells incarnations apart
	Shard   int
	Seq     uint64 // next log sequence to read
	Issued  time.Time
}

// IteratorToken encodes it.
func (c *Core) IteratorToken(it Iterator) string {
	p := make([]byte, 0, 8+4+8+8+1+len(it.Stream))
	p = binary.BigEndian.AppendUint64(p, uint64(it.Created))
	p = binary.BigEndian.AppendUint32(p, uint32(it.Shard))
	p = binary.BigEndian.AppendUint64(p, it.Seq)
	p = binary.BigEndian.AppendUint64(p, uint64(it.Issued.UnixMilli()))
	p = append(p, byte(len(it.Stream)))
	p = append(p, it.Stream...)
	return c.seal(tokenIterator, p)
}

// ParseIterator decodes and checks an iterator token: InvalidArgument when
// it is not one of ours, ExpiredIterator when it is older than 5 minutes.
func (c *Core) ParseIterator(tok string) (Iterator, error) {
	p, err := c.open(tokenIterator, tok)
	if err != nil || len(p) < 29 || int(p[28]) != len(p)-29 {
		return Iterator{}, errf(KindInvalidArgument, "Invalid ShardIterator.")
	}
	it := Iterator{
		Created: int64(binary.BigEndian.Uint64(p)),
		Shard:   int(binary.BigEndian.Uint32(p[8:])),
		Seq:     binary.BigEndian.Uint64(p[12:]),
		Issued:  time.UnixMilli(int64(binary.BigEndian.Uint64(p[20:]))),
		Stream:  string(p[29:]),
	}
	now := c.Now()
	if now.Sub(it.Issued) > iteratorTTL {
		return Iterator{}, errf(KindExpiredIterator, "Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			it.Issued.UTC().Format(time.UnixDate), now.UTC().Format(time.UnixDate), iteratorTTL.Milliseconds())
	}
	return it, nil
}

// PageToken encodes a paging position (a stream or shard name to resume
// after) for ListStreams, ListShards and ListStreamConsumers.
func (c *Core) PageToken(scope, after string) string {
	p := binary.BigEndian.AppendUint64(nil, uint64(c.Now().UnixMilli()))
	p = append(p, byte(len(scope)))
	p = append(p, scope...)
	p = append(p, after...)
	return c.seal(tokenPage, p)
}

// ParsePageToken decodes a paging token: InvalidArgument when it is not one
// of ours, ExpiredNextToken when older than 300 seconds.
func (c *Core) ParsePageToken(tok string) (scope, after string, err error) {
	p, err := c.open(tokenPage, tok)
	if err != nil || len(p) < 9 || int(p[8]) > len(p)-9 {
		return "", "", errf(KindInvalidArgument, "Invalid NextToken.")
	}
	issued := time.UnixMilli(int64(binary.BigEndian.Uint64(p)))
	if c.Now().Sub(issued) > nextTokenTTL {
		return "", "", errf(KindExpiredNextToken, "The timestamp of the NextToken %s has expired.", tok)
	}
	n := int(p[8])
	return string(p[9 : 9+n]), string(p[9+n:]), nil
}
