package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/server"
	"github.com/eddy-video/eddy/server/servertest"
)

// The chores' tests run each command against a real server (servertest),
// in two modes: a server without credentials (the chores send unsigned
// requests) and one with credentials (they sign as an identity allowed
// everything, given as the SDKs take it, in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY). Every command's output is checked for people
// and, with --json, for scripts.

// The identities of the servers with credentials.
var choresCredentials = []server.CredentialConfig{
	{AccessKeyID: "AKIDADMIN", SecretAccessKey: "adminsecret1", Allow: []server.AllowConfig{{Actions: []string{"*"}, Streams: []string{"*"}}}},
	{AccessKeyID: "AKIDVIEW", SecretAccessKey: "viewsecret1", Allow: []server.AllowConfig{{Actions: []string{
		"kinesisvideo:List*", "kinesisvideo:Describe*", "kinesisvideo:GetClip"}, Streams: []string{"*"}}}},
}

// choresEnv is a server and the environment the chores run in.
type choresEnv struct {
	*servertest.Env
	env      map[string]string // what getenv sees
	auth     bool
	progress bool
}

// choresModes starts a server without and one with credentials.
func choresModes(t *testing.T, mutate ...func(*server.Config)) []struct {
	name string
	ce   *choresEnv
} {
	open := servertest.Start(t, mutate...)
	signed := servertest.Start(t, append(mutate, func(c *server.Config) { c.Auth.Credentials = choresCredentials })...)
	return []struct {
		name string
		ce   *choresEnv
	}{
		{"no credentials", &choresEnv{Env: open, env: hermetic(t, "EDDY_ENDPOINT", open.URL)}},
		{"credentials", &choresEnv{Env: signed, auth: true, env: hermetic(t, "EDDY_ENDPOINT", signed.URL,
			"AWS_ACCESS_KEY_ID", "AKIDADMIN", "AWS_SECRET_ACCESS_KEY", "adminsecret1", "AWS_REGION", "us-east-1")}},
	}
}

// hermetic is an environment of the given variables in which the SDK's
// credential chain finds nothing else: no shared files of the machine's
// user, no instance metadata service.
func hermetic(t *testing.T, kv ...string) map[string]string {
	dir := t.TempDir()
	env := map[string]string{"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_EC2_METADATA_DISABLED": "true"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

// with returns a copy of the environment with some variables changed
// ("" removes one).
func (ce *choresEnv) with(kv ...string) *choresEnv {
	c := *ce
	c.env = map[string]string{}
	for k, v := range ce.env {
		c.env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(c.env, kv[i])
		} else {
			c.env[kv[i]] = kv[i+1]
		}
	}
	return &c
}

// run runs one chore (args as after `eddy`) and returns what it wrote.
func (ce *choresEnv) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := &cli{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return ce.env[k] },
		progress: ce.progress, now: time.Now}
	ctx := servertest.Context(t, time.Minute)
	err := c.run(ctx, args[0], args[1:])
	return stdout.String(), stderr.String(), err
}

// ok runs a chore that must succeed and returns its standard output.
func (ce *choresEnv) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := ce.run(t, args...)
	if err != nil {
		t.Fatalf("eddy %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fails runs a chore that must fail with an error naming the AWS error
// type want.
func (ce *choresEnv) fails(t *testing.T, want string, args ...string) string {
	t.Helper()
	out, _, err := ce.run(t, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("eddy %s: error %v; want %s", strings.Join(args, " "), err, want)
	}
	return out
}

// okJSON runs a chore with --json and decodes its output into v.
func (ce *choresEnv) okJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := ce.ok(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("eddy %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// checkAligned checks that a table's column starts at the same place on
// every line: the header's title and each row's value.
func checkAligned(t *testing.T, out, title string, values ...string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	col := strings.Index(lines[0], title)
	if col < 0 {
		t.Fatalf("no column %s in:\n%s", title, out)
	}
	for _, v := range values {
		found := false
		for _, l := range lines[1:] {
			if i := strings.Index(l, " "+v+" "); i >= 0 && i+1 == col {
				found = true
			}
		}
		if !found {
			t.Errorf("%s is not in column %s (at %d) of:\n%s", v, title, col, out)
		}
	}
}

func mustContain(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// TestChoresCredentials signs the chores with a profile of the shared
// credentials file (--profile, and $AWS_PROFILE), as the SDKs would, and
// checks that a missing profile, an unsigned request and a read-only
// identity are refused in AWS terms.
func TestChoresCredentials(t *testing.T) {
	ce := choresModes(t)[1].ce
	creds := ce.env["AWS_SHARED_CREDENTIALS_FILE"]
	err := os.WriteFile(creds, []byte("[ops]\naws_access_key_id = AKIDADMIN\naws_secret_access_key = adminsecret1\n\n"+
		"[viewer]\naws_access_key_id = AKIDVIEW\naws_secret_access_key = viewsecret1\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	byProfile := ce.with("AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "")
	mustContain(t, "streams create --profile ops", byProfile.ok(t, "streams", "create", "cam1", "--profile", "ops"), "created video stream cam1")
	mustContain(t, "streams ls with AWS_PROFILE=viewer", byProfile.with("AWS_PROFILE", "viewer").ok(t, "streams", "ls", "--kind", "video"), "cam1")
	byProfile.with("AWS_PROFILE", "viewer").fails(t, "AccessDeniedException: ", "streams", "rm", "cam1")
	// A profile asked for wins over the variables.
	ce.fails(t, "AccessDeniedException: ", "streams", "rm", "cam1", "--profile", "viewer")
	byProfile.fails(t, "credentials: ", "streams", "ls", "--profile", "nope")
	byProfile.fails(t, "MissingAuthenticationTokenException", "streams", "ls")
	ce.with("AWS_SECRET_ACCESS_KEY", "wrongsecret").fails(t, "InvalidSignatureException", "streams", "ls")
}
