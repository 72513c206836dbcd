package awsauth

import (
	"fmt"
	"sync/atomic"
)

// Credentials are the configured identities by access key id. They can be
// replaced while in use (a configuration reload): requests in flight keep
// the set they looked up.
type Credentials struct {
	set atomic.Pointer[map[string]*Identity]
}

// NewCredentials checks and indexes identities. linkedSuffix ends the
// names of streams that follow their base stream's patterns (Eddy's
// ".events"); "" for none.
func NewCredentials(ids []Identity, linkedSuffix string) (*Credentials, error) {
	c := &Credentials{}
	if err := c.Replace(ids, linkedSuffix); err != nil {
		return nil, err
	}
	return c, nil
}

// Replace swaps in a new set of identities, checked first: on error the
// old set stays.
func (c *Credentials) Replace(ids []Identity, linkedSuffix string) error {
	m := make(map[string]*Identity, len(ids))
	for i := range ids {
		id := ids[i]
		if err := id.check(); err != nil {
			return err
		}
		if _, dup := m[id.AccessKeyID]; dup {
			return fmt.Errorf("access_key_id %s is configured twice", id.AccessKeyID)
		}
		id.linked = linkedSuffix
		m[id.AccessKeyID] = &id
	}
	c.set.Store(&m)
	return nil
}

// Lookup returns the identity of an access key id.
func (c *Credentials) Lookup(accessKeyID string) (*Identity, bool) {
	m := c.set.Load()
	if m == nil {
		return nil, false
	}
	id, ok := (*m)[accessKeyID]
	return id, ok
}

// Len returns the number of identities.
func (c *Credentials) Len() int {
	if m := c.set.Load(); m != nil {
		return len(*m)
	}
	return 0
}
