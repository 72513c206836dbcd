package awsauth

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// signed is what a request claims about its signature, from its
// Authorization header or its presigned query string.
type signed struct {
	credential    string // AKID/YYYYMMDD/region/service/aws4_request
	signedHeaders string // as the client listed them: "host;x-amz-date"
	signature     string
	date          string    // the request time as signed (ISO 8601 basic)
	when          time.Time // the same, parsed
	presigned     bool
	expires       time.Duration // presigned only
	token         string        // X-Amz-Security-Token
	contentSHA    string        // X-Amz-Content-Sha256
}

// parseSigned finds how r is signed: the Authorization header or the
// presigned query string, never both.
func parseSigned(r *http.Request) (*signed, *Failure) {
	auth := r.Header.Values("Authorization")
	var q url.Values
	if r.URL.RawQuery != "" {
		q, _ = url.ParseQuery(r.URL.RawQuery) // what does not parse cannot be a parameter
	}
	_, presigned := q["X-Amz-Algorithm"]
	switch {
	case len(auth) > 0 && presigned:
		return nil, fail(ReasonMalformed, TypeInvalidSignature, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header.")
	case presigned:
		return parsePresigned(q, r.Header)
	case len(auth) > 0:
		// Repeated headers are one comma-joined value (RFC 9110 §5.3),
		// which no longer parses: a second Authorization is refused.
		return parseAuthorization(strings.Join(auth, ","), r.Header)
	}
	return nil, fail(ReasonMissing, TypeMissingToken, "Missing Authentication Token")
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=..." with the request time from X-Amz-Date or Date.
func parseAuthorization(value string, h http.Header) (*signed, *Failure) {
	value = strings.TrimSpace(value)
	alg, rest, _ := strings.Cut(value, " ")
	params := map[string]string{}
	for _, field := range strings.FieldsFunc(rest, func(c rune) bool { return c == ',' || c == ' ' }) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return nil, fail(ReasonMalformed, TypeIncompleteSignature, "'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", field, value)
		}
		if _, seen := params[k]; !seen { // the first of a repeated parameter counts
			params[k] = v
		}
	}
	amzDate, date := h.Get("X-Amz-Date"), h.Get("Date")
	var missing strings.Builder
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if _, ok := params[k]; !ok {
			missing.WriteString("Authorization header requires '" + k + "' parameter. ")
		}
	}
	if amzDate == "" && date == "" {
		missing.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if missing.Len() > 0 {
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "%sAuthorization=%s", missing.String(), value)
	}
	if alg != algorithm {
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", alg)
	}
	s := &signed{credential: params["Credential"], signedHeaders: params["SignedHeaders"], signature: params["Signature"],
		token: h.Get("X-Amz-Security-Token"), contentSHA: h.Get("X-Amz-Content-Sha256")}
	if f := s.checkSignedHeaders(s.token != ""); f != nil {
		return nil, f
	}
	var f *Failure
	if amzDate != "" {
		s.date, s.when, f = parseAmzDate(amzDate)
	} else {
		s.date, s.when, f = parseHTTPDate(date)
	}
	return s, f
}

// presignedParams are the query parameters of a presigned request, in the
// order AWS names the missing ones.
var presignedParams = []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date", "X-Amz-Expires"}

// maxExpires is the longest a presigned request may stay valid: a week.
const maxExpires = 604800

// parsePresigned reads a presigned request's X-Amz-* query parameters.
func parsePresigned(q url.Values, h http.Header) (*signed, *Failure) {
	var missing strings.Builder
	for _, k := range presignedParams {
		if _, ok := q[k]; !ok {
			missing.WriteString("AWS query-string parameters must include '" + k + "'. ")
		}
	}
	if missing.Len() > 0 {
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "%sRe-examine the query-string parameters.", missing.String())
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", alg)
	}
	s := &signed{presigned: true, credential: q.Get("X-Amz-Credential"), signedHeaders: q.Get("X-Amz-SignedHeaders"),
		signature: q.Get("X-Amz-Signature"), token: q.Get("X-Amz-Security-Token"), contentSHA: q.Get("X-Amz-Content-Sha256")}
	headerToken := false // a token in the query is signed with it
	if s.token == "" {
		s.token = h.Get("X-Amz-Security-Token")
		headerToken = s.token != ""
	}
	if s.contentSHA == "" {
		s.contentSHA = h.Get("X-Amz-Content-Sha256")
	}
	if f := s.checkSignedHeaders(headerToken); f != nil {
		return nil, f
	}
	exp := q.Get("X-Amz-Expires")
	n, err := strconv.Atoi(exp)
	switch {
	case err != nil:
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "X-Amz-Expires should be a number")
	case n < 1:
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "X-Amz-Expires must be non-negative")
	case n > maxExpires:
		return nil, fail(ReasonMalformed, TypeIncompleteSignature, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	s.expires = time.Duration(n) * time.Second
	var f *Failure
	s.date, s.when, f = parseAmzDate(q.Get("X-Amz-Date"))
	return s, f
}

// checkSignedHeaders requires the headers a signature must cover: the
// host, as Host or as HTTP/2's :authority (the JS SDK signs the latter
// over HTTP/2), else a request could be replayed to another server; and a
// session token sent as a header.
func (s *signed) checkSignedHeaders(headerToken bool) *Failure {
	if !s.signs("host") && !s.signs(":authority") {
		return fail(ReasonMalformed, TypeInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if headerToken && !s.signs("x-amz-security-token") {
		return fail(ReasonMalformed, TypeInvalidSignature, "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// signs reports whether name is one of the signed headers.
func (s *signed) signs(name string) bool {
	for rest := s.signedHeaders; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if strings.EqualFold(h, name) {
			return true
		}
	}
	return false
}

func badDate(v string) *Failure {
	return fail(ReasonMalformed, TypeIncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", v)
}

// parseAmzDate reads X-Amz-Date, kept as sent for the string to sign.
func parseAmzDate(v string) (string, time.Time, *Failure) {
	t, err := time.Parse(amzDateFormat, v)
	if err != nil || len(v) != len(amzDateFormat) {
		return "", time.Time{}, badDate(v)
	}
	return v, t, nil
}

// parseHTTPDate reads a Date header (RFC 9110's HTTP-date); the string to
// sign holds it in ISO 8601 basic format.
func parseHTTPDate(v string) (string, time.Time, *Failure) {
	t, err := http.ParseTime(v)
	if err != nil {
		return "", time.Time{}, badDate(v)
	}
	t = t.UTC()
	return t.Format(amzDateFormat), t, nil
}

// scope is a credential's parts: AKID/YYYYMMDD/region/service/aws4_request.
type scope struct {
	keyID, date, region, service, terminator string
}

func parseScope(credential string) (scope, *Failure) {
	var p [5]string
	rest := credential
	for i := range p {
		var ok bool
		p[i], rest, ok = strings.Cut(rest, "/")
		if ok != (i < 4) {
			return scope{}, fail(ReasonMalformed, TypeIncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", credential)
		}
	}
	return scope{keyID: p[0], date: p[1], region: p[2], service: p[3], terminator: p[4]}, nil
}

// checkScope holds the credential scope to this server's region, the
// service asked and the request's date, with AWS's messages (all that
// apply, in one).
func (v *Verifier) checkScope(sc scope, s *signed, service string) *Failure {
	var msg strings.Builder
	if sc.region != v.Region {
		msg.WriteString("Credential should be scoped to a valid region. ")
	}
	if sc.service != service {
		msg.WriteString("Credential should be scoped to correct service: '" + service + "'. ")
	}
	if sc.terminator != terminator {
		msg.WriteString("Credential should be scoped with a valid terminator: 'aws4_request', not '" + sc.terminator + "'. ")
	}
	if day := s.date[:8]; sc.date != day {
		msg.WriteString("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '" + sc.date + "' != '" + day + "', from '" + s.date + "'. ")
	}
	if msg.Len() > 0 {
		return fail(ReasonScope, TypeInvalidSignature, "%s", msg.String())
	}
	return nil
}

// checkTime holds the request time within Skew of now; a presigned
// request may also not be used after its X-Amz-Expires.
func (v *Verifier) checkTime(s *signed) *Failure {
	now := v.now().UTC()
	skew := v.skew()
	if late := now.Add(skew); s.when.After(late) {
		return fail(ReasonExpired, TypeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			s.date, late.Format(amzDateFormat), now.Format(amzDateFormat), minutes(skew))
	}
	allowed := skew
	if s.presigned {
		allowed = s.expires
	}
	if early := now.Add(-allowed); s.when.Before(early) {
		return fail(ReasonExpired, TypeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			s.date, early.Format(amzDateFormat), now.Format(amzDateFormat), minutes(allowed))
	}
	return nil
}

// minutes writes a duration as AWS's messages do: "15 min", or "37 sec".
func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return strconv.Itoa(int(d/time.Second)) + " sec"
}

// ClaimedKeyID returns the access key id a request says signed it (from
// its Authorization header or presigned query), for logs: "" when none,
// at most 128 bytes, unverified.
func ClaimedKeyID(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, rest, ok := strings.Cut(auth, "Credential="); ok {
			cred = rest
		}
	}
	id, _, _ := strings.Cut(cred, "/")
	id, _, _ = strings.Cut(id, ",")
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}
