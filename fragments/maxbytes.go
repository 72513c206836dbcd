package fragments

import (
	"strconv"
)

// MaxBytesTag is the tag that caps a video stream's stored size: its
// value is a number of bytes (decimal). Set with CreateStream's Tags or
// TagStream, removed with UntagStream, it is plain Kinesis Video wire, so
// every SDK can set it. When the stream's fragment log grows past the cap,
// its oldest fragments are deleted (whole log segments), as retention by
// age does.
const MaxBytesTag = "eddy:max-bytes"

// MinMaxBytes is the smallest cap MaxBytesTag accepts: below it a
// stream would keep a few seconds of video.
const MinMaxBytes = 1 << 20

// parseMaxBytes checks a MaxBytesTag value.
func parseMaxBytes(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < MinMaxBytes {
		return 0, errf(KindInvalidArgument, "The value of tag %s is %q: it must be a whole number of bytes of at least %d (1 MiB), such as 10737418240 for 10 GiB.", MaxBytesTag, v, MinMaxBytes)
	}
	return n, nil
}

// maxBytesOf returns the cap tags set (0: none) and whether they set one.
func maxBytesOf(tags map[string]string) (int64, bool, error) {
	v, ok := tags[MaxBytesTag]
	if !ok {
		return 0, false, nil
	}
	n, err := parseMaxBytes(v)
	return n, true, err
}

// MaxBytes returns the size cap of video stream name in bytes: the one
// MaxBytesTag set, or the retention_bytes of its pulled source; 0 when it
// has none (or does not exist). The same figure is VideoStream.RetentionBytes.
func (m *Manager) MaxBytes(name string) int64 {
	s, err := m.videoStream(name)
	if err != nil {
		return 0
	}
	return s.OwnRetentionBytes()
}

// applyMaxBytes makes a stream's size cap what its tag says (nothing to
// do without the tag) and trims the stream to it now. Tags and the cap are
// two writes: the tag is the truth, applied again on start.
func (m *Manager) applyMaxBytes(name string) error {
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	n, ok, err := maxBytesOf(s.Info().Tags)
	if err != nil || !ok {
		return nil // a value written before it was checked is ignored
	}
	if s.OwnRetentionBytes() != n {
		if err := s.SetRetentionBytes(n); err != nil {
			return err
		}
	}
	if st, err := m.Store(name); err == nil {
		st.enforceCap()
	}
	return nil
}

// enforceCap deletes the stream's oldest fragments while its log is over
// its own size cap. The recorder calls it through Append after every
// fragment, so a stream never waits for the janitor's next pass.
func (st *Store) enforceCap() {
	n := st.stream.OwnRetentionBytes()
	if n <= 0 || st.shard.Log().Size() <= n {
		return
	}
	recs, bytes, err := st.stream.EnforceRetention()
	if err != nil {
		st.logger.Error("size cap", "stream", st.name, "err", err)
		return
	}
	if recs > 0 {
		st.logger.Info("size cap trimmed", "stream", st.name, "fragments", recs, "bytes", bytes, "max_bytes", n)
		st.trim()
	}
}
