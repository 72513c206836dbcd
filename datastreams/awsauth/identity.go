package awsauth

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Rule allows its actions on its streams. Actions are IAM action names
// ("kinesis:PutRecords", "kinesisvideo:GetClip") or Eddy's own for the
// non-AWS protocols ("rtsp:publish", "webrtc:read", "hls:read",
// "eddy:admin"), with * and ? wildcards, matched without regard to case as
// IAM does. Streams are name patterns with * and ?, matched exactly.
type Rule struct {
	Actions []string
	Streams []string
}

// Identity is one credential: an access key id, its secret access key and
// what it may do.
type Identity struct {
	AccessKeyID string
	Secret      string
	Rules       []Rule
	// linked is the suffix of streams that follow their base stream's
	// patterns (set by Credentials).
	linked string
}

// Allowed reports whether the identity may perform action on stream. A
// stream whose name ends in the credentials' linked suffix (a video
// stream's event stream, "cam1.events") is allowed wherever its base name
// ("cam1") is. stream "" asks whether any rule grants the action, for
// operations that name no stream (listings filter their results with
// Allowed per stream).
func (id *Identity) Allowed(action, stream string) bool {
	for _, r := range id.Rules {
		if !matchesAny(r.Actions, action, true) {
			continue
		}
		if stream == "" || matchesAny(r.Streams, stream, false) {
			return true
		}
		if base, ok := strings.CutSuffix(stream, id.linked); ok && id.linked != "" && matchesAny(r.Streams, base, false) {
			return true
		}
	}
	return false
}

// ARN is the principal's ARN, as AWS names an IAM user in its messages.
func (id *Identity) ARN(account string) string {
	return "arn:aws:iam::" + account + ":user/" + id.AccessKeyID
}

func matchesAny(patterns []string, s string, fold bool) bool {
	if fold {
		s = strings.ToLower(s)
	}
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		// path.Match knows * and ? (and [...], which validation keeps
		// out); neither names nor actions hold a '/', so * spans all.
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

var (
	accessKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{3,128}$`)
	actionPattern    = regexp.MustCompile(`^(\*|[a-z*?]+:[A-Za-z0-9*?]+)$`)
	streamPattern    = regexp.MustCompile(`^[a-zA-Z0-9_.*?-]{1,256}$`)
)

// services whose actions a rule may name.
var services = map[string]bool{"kinesis": true, "kinesisvideo": true, "rtsp": true, "webrtc": true, "hls": true, "eddy": true}

// check validates an identity, with messages that say what to change.
func (id *Identity) check() error {
	if !accessKeyPattern.MatchString(id.AccessKeyID) {
		return fmt.Errorf("access_key_id %q: use 3 to 128 letters and digits", id.AccessKeyID)
	}
	if len(id.Secret) < 8 {
		return fmt.Errorf("%s: the secret access key must be at least 8 characters", id.AccessKeyID)
	}
	if len(id.Rules) == 0 {
		return fmt.Errorf("%s: no allow rule: the credential could do nothing", id.AccessKeyID)
	}
	for i, r := range id.Rules {
		if len(r.Actions) == 0 || len(r.Streams) == 0 {
			return fmt.Errorf("%s: allow[%d] needs actions and streams", id.AccessKeyID, i)
		}
		for _, a := range r.Actions {
			if !actionPattern.MatchString(strings.ToLower(a)) {
				return fmt.Errorf("%s: allow[%d]: action %q is not SERVICE:Action (wildcards * and ? allowed)", id.AccessKeyID, i, a)
			}
			if svc, _, ok := strings.Cut(strings.ToLower(a), ":"); ok && !strings.ContainsAny(svc, "*?") && !services[svc] {
				return fmt.Errorf("%s: allow[%d]: action %q: unknown service %q (kinesis, kinesisvideo, rtsp, webrtc, hls, eddy)", id.AccessKeyID, i, a, svc)
			}
		}
		for _, s := range r.Streams {
			if !streamPattern.MatchString(s) {
				return fmt.Errorf("%s: allow[%d]: stream pattern %q: use [a-zA-Z0-9_.-] with * and ?", id.AccessKeyID, i, s)
			}
		}
	}
	return nil
}
