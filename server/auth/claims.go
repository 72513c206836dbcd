package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// Eddy's bearer tokens and UI session cookies share one signed format:
//
//	"eddy." base64url(body ‖ mac)   (unpadded, RFC 4648 §5: URL-safe)
//
//	body: version (1) | kind ('t' token, 's' session) | actions (bit set)
//	      | expires (int64, Unix seconds, big-endian) | id (16 random bytes)
//	      | len(access key id) (1) | access key id | len(stream) (uint16) | stream
//	mac:  the first 16 bytes of HMAC-SHA256(k, body), where
//	      k = HMAC-SHA256(HMAC-SHA256(Auth.Key, "eddy <kind> v1"), secret)
//
// The identity's secret is in the key, so rotating a secret (or removing
// the identity) revokes every token and session it was issued; the kind
// is in both body and key, so a session cookie never passes as a bearer
// token nor the other way round. Tokens carry an action set and a stream
// name or pattern; sessions carry neither: they act with the identity's
// own permissions.

const (
	claimsPrefix  = "eddy."
	claimsVersion = 1
	macSize       = 16
	idSize        = 16
	// maxEncoded bounds what is decoded at all.
	maxEncoded = 1024
	fixedSize  = 3 + 8 + idSize + 1
)

// The kinds of signed claims.
const (
	kindToken   byte = 't'
	kindSession byte = 's'
)

// tokenActions are the actions a token may carry, by bit.
var tokenActions = []string{"webrtc:read", "webrtc:publish", "hls:read", "eddy:admin"}

var (
	keyIDPattern  = regexp.MustCompile(`^[A-Za-z0-9]{3,128}$`)
	streamPattern = regexp.MustCompile(`^[a-zA-Z0-9_.*?-]{1,256}$`)
)

// errMalformed is any string that is not a well-formed token or cookie.
var errMalformed = errors.New("not an Eddy token")

// claims are what a token or session says.
type claims struct {
	Kind        byte
	Actions     uint8 // bits of tokenActions
	Expires     int64 // Unix seconds
	ID          [idSize]byte
	AccessKeyID string
	Stream      string // tokens: a name or a pattern with * and ?
}

func (c *claims) marshal() []byte {
	b := make([]byte, 0, fixedSize+len(c.AccessKeyID)+2+len(c.Stream))
	b = append(b, claimsVersion, c.Kind, c.Actions)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expires))
	b = append(b, c.ID[:]...)
	b = append(b, byte(len(c.AccessKeyID)))
	b = append(b, c.AccessKeyID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Stream)))
	return append(b, c.Stream...)
}

// unmarshalClaims parses a body strictly: one encoding per claims, so
// that the fuzzer can check body == marshal(unmarshal(body)).
func unmarshalClaims(b []byte) (*claims, error) {
	if len(b) < fixedSize || b[0] != claimsVersion {
		return nil, errMalformed
	}
	c := &claims{Kind: b[1], Actions: b[2], Expires: int64(binary.BigEndian.Uint64(b[3:]))}
	copy(c.ID[:], b[11:])
	p := 11 + idSize
	n := int(b[p])
	p++
	if len(b) < p+n+2 {
		return nil, errMalformed
	}
	c.AccessKeyID = string(b[p : p+n])
	p += n
	m := int(binary.BigEndian.Uint16(b[p:]))
	p += 2
	if len(b) != p+m {
		return nil, errMalformed
	}
	c.Stream = string(b[p:])
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// check validates fields, the same rules for issuing and parsing.
func (c *claims) check() error {
	if !keyIDPattern.MatchString(c.AccessKeyID) || c.Expires <= 0 {
		return errMalformed
	}
	switch c.Kind {
	case kindToken:
		if c.Actions == 0 || c.Actions>>len(tokenActions) != 0 || !streamPattern.MatchString(c.Stream) {
			return errMalformed
		}
	case kindSession:
		if c.Actions != 0 || c.Stream != "" {
			return errMalformed
		}
	default:
		return errMalformed
	}
	return nil
}

// kindKey is the key of one kind of claims, derived from Auth.Key.
func (a *Auth) kindKey(kind byte) []byte {
	m := hmac.New(sha256.New, a.Key)
	m.Write([]byte("eddy " + string(kind) + " v1"))
	return m.Sum(nil)
}

func (a *Auth) mac(c *claims, body []byte, secret string) []byte {
	k := hmac.New(sha256.New, a.kindKey(c.Kind))
	k.Write([]byte(secret))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write(body)
	return m.Sum(nil)[:macSize]
}

// seal encodes and signs claims for the identity id.
func (a *Auth) seal(c *claims, id *awsauth.Identity) string {
	body := c.marshal()
	return claimsPrefix + base64.RawURLEncoding.EncodeToString(append(body, a.mac(c, body, id.Secret)...))
}

// decode splits an encoded string into claims and MAC, unverified.
func decode(s string) (*claims, []byte, []byte, error) {
	rest, ok := strings.CutPrefix(s, claimsPrefix)
	// The decoder skips \r and \n: only the alphabet keeps one spelling
	// per token.
	if !ok || len(s) > maxEncoded || strings.IndexFunc(rest, notBase64URL) >= 0 {
		return nil, nil, nil, errMalformed
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) <= macSize {
		return nil, nil, nil, errMalformed
	}
	body, mac := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	c, err := unmarshalClaims(body)
	if err != nil {
		return nil, nil, nil, err
	}
	return c, body, mac, nil
}

func notBase64URL(r rune) bool {
	return (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_'
}

// open verifies an encoded string of kind: well formed, signed for an
// identity that still exists with the secret it had. It returns the
// claims (nil when malformed, for the failure's log line) and the
// identity, or the reason it fails. Expiry is the caller's.
func (a *Auth) open(s string, kind byte) (*claims, *awsauth.Identity, string) {
	c, body, mac, err := decode(s)
	if err != nil || c.Kind != kind {
		return nil, nil, awsauth.ReasonMalformed
	}
	id, ok := a.Credentials.Lookup(c.AccessKeyID)
	if !ok {
		return c, nil, awsauth.ReasonUnknownKey
	}
	if !hmac.Equal(mac, a.mac(c, body, id.Secret)) {
		return c, nil, awsauth.ReasonSignature
	}
	return c, id, ""
}

func (c *claims) expired(now time.Time) bool { return now.Unix() >= c.Expires }

// actionBits returns the bit set of token actions, or false when one is
// not a token action.
func actionBits(actions []string) (uint8, bool) {
	var bits uint8
	for _, a := range actions {
		i := indexFold(tokenActions, a)
		if i < 0 {
			return 0, false
		}
		bits |= 1 << i
	}
	return bits, len(actions) > 0
}

func (c *claims) has(action string) bool {
	i := indexFold(tokenActions, action)
	return i >= 0 && c.Actions&(1<<i) != 0
}

func (c *claims) actionNames() []string {
	var out []string
	for i, a := range tokenActions {
		if c.Actions&(1<<i) != 0 {
			out = append(out, a)
		}
	}
	return out
}

func indexFold(list []string, s string) int {
	for i, v := range list {
		if strings.EqualFold(v, s) {
			return i
		}
	}
	return -1
}
