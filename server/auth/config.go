package auth

import (
	"fmt"

	"github.com/eddy-video/eddy/datastreams/awsauth"
)

// Source is one identity as configured: its secret inline or in a file.
type Source struct {
	AccessKeyID string
	Secret      string
	SecretFile  string
	Rules       []awsauth.Rule
}

// LoadCredentials builds the identities of srcs, reading secret files.
// A file's surrounding white space is not part of the secret (editors and
// `echo` end files with a newline). linkedSuffix is awsauth's.
func LoadCredentials(srcs []Source, linkedSuffix string) (*awsauth.Credentials, error) {
	ids, err := LoadIdentities(srcs)
	if err != nil {
		return nil, err
	}
	return awsauth.NewCredentials(ids, linkedSuffix)
}

// LoadIdentities reads the identities of srcs, secret files included,
// unchecked: awsauth.NewCredentials and Credentials.Replace check them (a
// configuration reload replaces the running set with them).
func LoadIdentities(srcs []Source) ([]awsauth.Identity, error) {
	ids := make([]awsauth.Identity, 0, len(srcs))
	for _, src := range srcs {
		secret, err := LoadSecret(src.Secret, src.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s: secret_access_key_file: %w", src.AccessKeyID, err)
		}
		ids = append(ids, awsauth.Identity{AccessKeyID: src.AccessKeyID, Secret: secret, Rules: src.Rules})
	}
	return ids, nil
}
