package auth

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// LoadSecret returns a secret given inline or in a file (its content,
// without surrounding white space: editors and echo end files with a line
// break).
func LoadSecret(inline, file string) (string, error) {
	if file == "" {
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// FailureHook returns the hook an AWS API (kdsapi, kvsapi) calls for each
// refused request before answering it: the failure is counted and logged
// under protocol, and an address over its failure limit waits its turn
// (Wait) before it hears why.
func (a *Auth) FailureHook(protocol string) func(r *http.Request, f *awsauth.Failure, who string) {
	return func(r *http.Request, f *awsauth.Failure, who string) {
		a.Failed(protocol, f.Reason, r.RemoteAddr, who)
		a.Wait(r.Context(), r.RemoteAddr)
	}
}
