package awsauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
	"time"
)

// AWS Signature Version 4, verified the way AWS verifies it
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html).
//
// Written by hand: Go has no server-side SigV4 verifier, and the SDK's
// signer cannot serve as one, because it signs the headers it chooses
// while a server must rebuild the canonical request from exactly the
// headers the client listed in SignedHeaders (every SDK lists a different
// set). The checks run in AWS's order, so that each failure gets the error
// AWS would give: the form of the signature, its time, its credential
// scope, the access key, then the signature itself.

// Verifier checks AWS Signature Version 4 signatures (header and
// presigned query string) against Credentials.
type Verifier struct {
	Credentials *Credentials
	// Region is the only region a credential scope may name.
	Region string
	// Skew is how far a request's time may be from now (default 15
	// minutes, as AWS allows).
	Skew time.Duration
	Now  func() time.Time

	keys keyCache
}

// DefaultSkew is how far a signed request's time may be from the server's.
const DefaultSkew = 15 * time.Minute

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	// amzDateFormat is ISO 8601 basic format, the X-Amz-Date form.
	amzDateFormat = "20060102T150405Z"
	// unsignedPayload is the payload hash of a body the signature does
	// not cover.
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// emptyHash is the hex SHA-256 of no bytes, what clients sign for a
	// streaming body.
	emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Verify authenticates r as a request to service ("kinesis",
// "kinesisvideo") whose body is body (already read whole; nil for a
// streaming body, which must be signed as UNSIGNED-PAYLOAD or as the empty
// payload). It returns the identity that signed r, or why not.
func (v *Verifier) Verify(r *http.Request, service string, body []byte) (*Identity, *Failure) {
	s, f := parseSigned(r)
	if f != nil {
		return nil, f
	}
	if f := v.checkTime(s); f != nil {
		return nil, f
	}
	sc, f := parseScope(s.credential)
	if f != nil {
		return nil, f
	}
	if f := v.checkScope(sc, s, service); f != nil {
		return nil, f
	}
	id, ok := v.Credentials.Lookup(sc.keyID)
	if !ok || s.token != "" {
		// Eddy issues no session tokens: a request that carries one was
		// signed with temporary credentials Eddy cannot know.
		return nil, fail(ReasonUnknownKey, TypeUnrecognizedClient, "The security token included in the request is invalid.")
	}
	hashes, f := payloadHashesOf(s, body)
	if f != nil {
		return nil, f
	}
	if !v.matches(r, s, sc, id, hashes) {
		return nil, fail(ReasonSignature, TypeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return id, nil
}

// matches reports whether one of the payload hashes the request may have
// been signed with gives its signature.
func (v *Verifier) matches(r *http.Request, s *signed, sc scope, id *Identity, hashes payloadHashes) bool {
	key := v.keys.get(id, s.credential, sc)
	var buf [1024]byte
	canon := appendCanonicalPrefix(buf[:0], r, s)
	want := []byte(s.signature)
	for _, h := range hashes {
		if h == "" {
			break
		}
		sum := sha256.Sum256(append(canon, h...))
		mac := hmac.New(sha256.New, key[:])
		writeStringToSign(mac, s.date, s.credential[len(sc.keyID)+1:], sum[:])
		var got [64]byte
		hex.Encode(got[:], mac.Sum(nil))
		if hmac.Equal(got[:], want) {
			return true
		}
	}
	return false
}

// writeStringToSign writes AWS4-HMAC-SHA256, the request time, the
// credential scope and the hash of the canonical request, one a line.
func writeStringToSign(w interface{ Write([]byte) (int, error) }, date, credScope string, canonHash []byte) {
	var b [256]byte
	out := append(b[:0], algorithm+"\n"...)
	out = append(out, date...)
	out = append(out, '\n')
	out = append(out, credScope...)
	out = append(out, '\n')
	out = hex.AppendEncode(out, canonHash)
	_, _ = w.Write(out)
}

// now returns the verifier's current time.
func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) skew() time.Duration {
	if v.Skew > 0 {
		return v.Skew
	}
	return DefaultSkew
}

// keyCache keeps derived signing keys: deriving one costs four HMACs, and
// a key serves every request of its identity, day, region and service.
type keyCache struct {
	mu   sync.RWMutex
	keys map[string]cachedKey // by credential (key id/date/region/service/aws4_request)
}

type cachedKey struct {
	id  *Identity // the identity it was derived for: a reload makes new ones
	key [sha256.Size]byte
}

// maxCachedKeys bounds the cache; only known identities' keys enter it,
// for the few days the allowed skew spans, so it is never reached in use.
const maxCachedKeys = 4096

func (c *keyCache) get(id *Identity, credential string, sc scope) [sha256.Size]byte {
	c.mu.RLock()
	k, ok := c.keys[credential]
	c.mu.RUnlock()
	if ok && k.id == id {
		return k.key
	}
	k = cachedKey{id: id, key: deriveKey(id.Secret, sc)}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = map[string]cachedKey{}
	}
	c.keys[credential] = k
	c.mu.Unlock()
	return k.key
}

// deriveKey is SigV4's signing key: HMAC("AWS4"+secret, date), then the
// region, the service and "aws4_request" in turn.
func deriveKey(secret string, sc scope) [sha256.Size]byte {
	k := hmacSHA256([]byte("AWS4"+secret), sc.date)
	k = hmacSHA256(k, sc.region)
	k = hmacSHA256(k, sc.service)
	k = hmacSHA256(k, terminator)
	return [sha256.Size]byte(k)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	_, _ = m.Write([]byte(data))
	return m.Sum(nil)
}
