package auth

// The hooks media/rtsp.Server takes (Authenticate, Authorize,
// OnAuthFailure; SlowDown is Auth.Wait): RTSP's user name is the access
// key id and its password the secret access key.

// Secret returns the secret access key of an access key id: what Digest
// authentication hashes and Basic sends.
func (a *Auth) Secret(accessKeyID string) (string, bool) {
	id, ok := a.Credentials.Lookup(accessKeyID)
	if !ok {
		return "", false
	}
	return id.Secret, true
}

// Allowed reports whether accessKeyID may perform action (an IAM name or
// one of Eddy's, such as "rtsp:publish") on stream.
func (a *Auth) Allowed(accessKeyID, action, stream string) bool {
	id, ok := a.Credentials.Lookup(accessKeyID)
	return ok && id.Allowed(action, stream)
}

// RTSPFailed records a failed RTSP authentication or authorization.
func (a *Auth) RTSPFailed(addr, user, reason string) { a.Failed("rtsp", reason, addr, user) }
