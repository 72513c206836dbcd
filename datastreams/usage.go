package datastreams

// UsedBytes returns the bytes the logs of every stream's retained shards
// hold (data streams, video fragment logs and event streams alike): what
// Eddy's data takes on disk, without the small index and metadata files.
func (c *Core) UsedBytes() int64 {
	var n int64
	for _, s := range c.Streams() {
		s.mu.RLock()
		for _, sh := range s.shards {
			n += sh.Log().Size()
		}
		s.mu.RUnlock()
	}
	return n
}
