// Package redact hides the secrets a URL may carry (its user name and
// password, and query parameters such as password= or token=) wherever
// Eddy shows or logs one: a camera's URL is configuration, but its
// credentials must reach no log line, error or web page.
//
// Redaction is by structure, not by searching for a known password: a
// percent-encoded password, or a one-letter one, is hidden like any other,
// and nothing else in a message is touched.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces what is hidden.
const Mask = "xxxxx"

// URL returns s with its userinfo replaced by Mask (rtsp://xxxxx@host/...)
// and the values of its secret-looking query parameters (SecretParam) by
// Mask. s need not parse: the userinfo is whatever lies between "://" and
// the last "@" of the URL (unless s parses and that "@" is in its query or
// fragment: then the last "@" before them), so a password holding "/" is
// hidden too, at the cost of hiding more of a URL that has an "@" in its
// path. Masking a masked URL changes nothing more: masking can make a URL
// parse differently, so the rule is applied until nothing changes (or, past
// a few rounds, everything up to the last "@" is masked).
func URL(s string) string {
	for range 4 {
		t := maskOnce(s, false)
		if t == s {
			return t
		}
		s = t
	}
	return maskOnce(s, true)
}

// maskOnce applies URL's rule once; toLast masks up to the last "@" even
// when it is in a query or fragment (a fixed point of maskOnce).
func maskOnce(s string, toLast bool) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return maskQuery(s)
	}
	head, rest := s[:i+3], s[i+3:]
	at := strings.LastIndexByte(rest, '@')
	if q := strings.IndexAny(rest, "?#"); !toLast && at >= 0 && q >= 0 && q < at && parses(s) {
		// ?contact=me@example.com: not a userinfo.
		at = strings.LastIndexByte(rest[:q], '@')
	}
	if at >= 0 {
		rest = Mask + rest[at:]
	}
	return head + maskQuery(rest)
}

func parses(s string) bool {
	_, err := url.Parse(s)
	return err == nil
}

// maskQuery masks the values of the secret-looking parameters of the
// query of s (from its first "?" to its "#" or end).
func maskQuery(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	query, tail := s[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, tail = query[:h], query[h:]
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		name, value, ok := strings.Cut(p, "=")
		if ok && SecretParam(name) {
			// A quote ends the value: it closes a quoted URL in a message.
			end := ""
			if j := strings.IndexAny(value, `"'`); j >= 0 {
				end = value[j:]
			}
			params[i] = name + "=" + Mask + end
		}
	}
	return s[:q+1] + strings.Join(params, "&") + tail
}

// secretWords are what a query parameter that holds a credential is
// named like (user, username, passwd, pwd, access_token, api_key, ...).
var secretWords = []string{"user", "pass", "pwd", "token", "secret", "key", "auth", "sig", "credential", "session"}

// SecretParam reports whether a query parameter named name looks like it
// holds a credential (case, "-" and "_" ignored; percent-encoding too).
func SecretParam(name string) bool {
	n := strings.ToLower(name)
	if u, err := url.QueryUnescape(n); err == nil {
		n = u
	}
	n = strings.NewReplacer("-", "", "_", "").Replace(n)
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// urlInText finds what looks like a URL in free text: a scheme, "://",
// and everything up to the next white space (a quoted URL keeps its
// closing quote, which the masking leaves alone).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://\S*`)

// Text redacts (as URL does) every URL that msg quotes: for messages
// built by code that quotes a URL it was given (a library's error).
func Text(msg string) string {
	if !strings.Contains(msg, "://") {
		return msg
	}
	return urlInText.ReplaceAllStringFunc(msg, URL)
}
