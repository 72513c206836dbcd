package hls

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

const tokenMAC = 16

// tokenVersion is the first byte of a token body. Version 2 added the
// container byte, version 3 the identity that opened the session, a tag
// of its secret and whether the web UI opened it; tokens
// of other versions are refused.
const tokenVersion = 3

// ErrBadToken is returned for a token that is malformed, forged or for
// another server.
var ErrBadToken = errors.New("hls: invalid session token")

func (s *session) marshal() []byte {
	b := []byte{tokenVersion, s.Mode, boolByte(s.Producer), s.Disc, boolByte(s.ShowTime), s.Container, boolByte(s.UI)}
	b = binary.BigEndian.AppendUint32(b, s.MaxResults)
	for _, v := range []int64{s.Start, s.End, s.Expires, s.Issued, s.Created} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = binary.BigEndian.AppendUint64(b, s.Anchor)
	b = append(b, s.SecretTag[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Stream)))
	b = append(b, s.Stream...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Identity)))
	return append(b, s.Identity...)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func unmarshalSession(b []byte) (*session, error) {
	const fixed = 7 + 4 + 8*6 + secretTagSize + 2
	if len(b) < fixed || b[0] != tokenVersion {
		return nil, ErrBadToken
	}
	s := &session{Mode: b[1], Producer: b[2] == 1, Disc: b[3], ShowTime: b[4] == 1, Container: b[5], UI: b[6] == 1}
	s.MaxResults = binary.BigEndian.Uint32(b[7:])
	p := 11
	vals := make([]int64, 5)
	for i := range vals {
		vals[i] = int64(binary.BigEndian.Uint64(b[p:]))
		p += 8
	}
	s.Start, s.End, s.Expires, s.Issued, s.Created = vals[0], vals[1], vals[2], vals[3], vals[4]
	s.Anchor = binary.BigEndian.Uint64(b[p:])
	p += 8
	p += copy(s.SecretTag[:], b[p:])
	n := int(binary.BigEndian.Uint16(b[p:]))
	p += 2
	if len(b) < p+n+2 || s.Mode < ModeLive || s.Mode > ModeOnDemand || s.Disc < DiscAlways || s.Disc > DiscOnDisc ||
		s.Container < ContainerFMP4 || s.Container > ContainerTS {
		return nil, ErrBadToken
	}
	s.Stream = string(b[p : p+n])
	p += n
	n = int(binary.BigEndian.Uint16(b[p:]))
	p += 2
	if len(b) != p+n {
		return nil, ErrBadToken
	}
	s.Identity = string(b[p:])
	return s, nil
}

// secretTagSize is the length of a session's tag of its identity's secret.
const secretTagSize = 8

// secretTag binds a session to its identity's secret: changing the secret
// (a leaked one, rotated) ends the sessions opened with the old one.
func (g signer) secretTag(akid, secret string) [secretTagSize]byte {
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte("eddy hls identity\x00" + akid + "\x00" + secret))
	var tag [secretTagSize]byte
	copy(tag[:], m.Sum(nil))
	return tag
}

// signer signs and verifies session tokens with an HMAC-SHA256 key.
type signer struct{ key []byte }

func (g signer) sign(s *session) string {
	body := s.marshal()
	m := hmac.New(sha256.New, g.key)
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(append(body, m.Sum(nil)[:tokenMAC]...))
}

func (g signer) verify(tok string) (*session, error) {
	if len(tok) > 2048 {
		return nil, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) <= tokenMAC {
		return nil, ErrBadToken
	}
	body, mac := raw[:len(raw)-tokenMAC], raw[len(raw)-tokenMAC:]
	m := hmac.New(sha256.New, g.key)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)[:tokenMAC]) {
		return nil, ErrBadToken
	}
	return unmarshalSession(body)
}
