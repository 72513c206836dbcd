package awsauth

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The canonical request, rebuilt from what the server received exactly as
// the client built it before signing: METHOD, URI, query, the signed
// headers with their values, the signed header names, the payload hash,
// one a line.

// appendCanonicalPrefix appends the canonical request up to its last line,
// the payload hash, which varies with what the client may have signed.
func appendCanonicalPrefix(b []byte, r *http.Request, s *signed) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, r.URL)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, r.URL.RawQuery, s.presigned)
	b = append(b, '\n')
	b = appendCanonicalHeaders(b, r, s.signedHeaders)
	b = append(b, '\n')
	b = append(b, s.signedHeaders...)
	b = append(b, '\n')
	return b
}

const upperHex = "0123456789ABCDEF"

// unreserved reports RFC 3986's unreserved characters, the only ones
// SigV4 leaves unencoded.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~'
}

// appendEncoded percent-encodes every byte of s but the unreserved ones
// (and '/' when keepSlash), with upper-case hex.
func appendEncoded(b []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || keepSlash && c == '/' {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return b
}

// appendCanonicalURI appends the path as sent, encoded once more: every
// AWS service but S3 signs the already-encoded path encoded again, each
// segment on its own ('/' kept).
func appendCanonicalURI(b []byte, u *url.URL) []byte {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return appendEncoded(b, p, true)
}

// appendCanonicalQuery appends the query's parameters, each name and value
// decoded then encoded the SigV4 way (a space is %20), sorted by name then
// value; a presigned request's own signature is left out. A pair that does
// not decode is encoded as sent, so that it can only fail to match.
func appendCanonicalQuery(b []byte, raw string, presigned bool) []byte {
	if raw == "" {
		return b
	}
	type pair struct{ k, v string }
	var pairs []pair
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = unescapeOr(k), unescapeOr(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{string(appendEncoded(nil, k, false)), string(appendEncoded(nil, v, false))})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

func unescapeOr(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// appendCanonicalHeaders appends "name:value\n" for each signed header, in
// the client's order. net/http moves Host (HTTP/2's :authority),
// Content-Length (when known) and Transfer-Encoding out of the header map;
// they come back from the request.
func appendCanonicalHeaders(b []byte, r *http.Request, signedHeaders string) []byte {
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		switch {
		case strings.EqualFold(name, "host") || name == ":authority":
			b = appendValue(b, r.Host)
		case strings.EqualFold(name, "content-length") && r.ContentLength >= 0:
			b = strconv.AppendInt(b, r.ContentLength, 10)
		case strings.EqualFold(name, "transfer-encoding") && len(r.TransferEncoding) > 0:
			b = append(b, strings.Join(r.TransferEncoding, ",")...)
		default:
			for i, v := range r.Header[textproto.CanonicalMIMEHeaderKey(name)] {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendValue(b, v)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// appendValue appends a header value trimmed, with each run of inner
// white space made one space (as botocore and the JS SDK do; the Go SDK
// collapses spaces only, the same for every value SDKs send).
func appendValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return b
}

// payloadHashes are the payload hashes a request may have been signed
// with (one, or two for a body the signature may not cover).
type payloadHashes [2]string

// payloadHashesOf finds them: X-Amz-Content-Sha256 when sent (the body's
// hash, which is checked, or UNSIGNED-PAYLOAD), else the body's hash. A
// streaming body (nil), or a presigned request's empty one, is signed as
// UNSIGNED-PAYLOAD or as the empty payload.
func payloadHashesOf(s *signed, body []byte) (payloadHashes, *Failure) {
	switch {
	case s.contentSHA == unsignedPayload:
		return payloadHashes{unsignedPayload}, nil
	case s.contentSHA != "" && body == nil:
		if s.contentSHA != emptyHash {
			return payloadHashes{}, fail(ReasonSignature, TypeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		return payloadHashes{emptyHash}, nil
	case s.contentSHA != "":
		if sum := sha256.Sum256(body); !strings.EqualFold(hex.EncodeToString(sum[:]), s.contentSHA) {
			return payloadHashes{}, fail(ReasonSignature, TypeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
		return payloadHashes{s.contentSHA}, nil
	case body == nil || s.presigned && len(body) == 0:
		return payloadHashes{emptyHash, unsignedPayload}, nil
	}
	sum := sha256.Sum256(body)
	return payloadHashes{hex.EncodeToString(sum[:])}, nil
}
