// Package auth is the server's one authority over who may do what: it
// builds the configured identities (datastreams/awsauth), verifies AWS
// Signature Version 4 requests through them, issues and checks Eddy's own
// scoped tokens (WHIP/WHEP bearer tokens, web UI sessions), checks RTSP
// credentials, and accounts for failures: every failed authentication is
// logged (rate-limited) and counted by protocol and reason, and an address
// that fails too often is slowed down, never the others.
//
// The protocol packages do not import it: each takes a small hook, which
// server wires to this package. It must not know streams' contents or how
// any protocol frames its requests beyond what it checks.
package auth
