package hls

import (
	"math"
	"time"

	"github.com/eddy-video/eddy/fragments"
)

// discState is what a media playlist needs to know about the fragments
// before its first segment: how many discontinuity tags they carried
// (EXT-X-DISCONTINUITY-SEQUENCE) and the last of them, whose end and
// init segment decide whether the first listed segment starts with one.
type discState struct {
	count    int
	prev     *fragments.IndexEntry
	prevInit fragments.InitID
}

type discKey struct {
	stream   string
	created  int64
	anchor   uint64
	disc     byte
	producer bool
}

type discMemo struct {
	upTo uint64 // state of the fragments before upTo
	st   discState
}

// maxDiscMemo bounds the per-session discontinuity memo.
const maxDiscMemo = 4096

// discBefore counts the discontinuities of the stored fragments from the
// session's anchor up to first. Sessions share the work: the count is
// remembered per (stream, anchor, mode), so a LIVE session that runs for
// hours scans each fragment once, not once per playlist.
func (s *Server) discBefore(sess *session, st *fragments.Store, first uint64) (discState, error) {
	var cur discState
	if first <= sess.Anchor {
		return cur, nil
	}
	key := discKey{sess.Stream, sess.Created, sess.Anchor, sess.Disc, sess.Producer}
	from := sess.Anchor
	s.discMu.Lock()
	if m, ok := s.discMemo[key]; ok && m.upTo <= first {
		cur, from = m.st, m.upTo
	}
	s.discMu.Unlock()
	for from < first {
		page, _, err := st.List(fragments.IndexServerTime, time.Unix(0, 0), time.Unix(0, math.MaxInt64), from, int(min(512, first-from)))
		if err != nil {
			return discState{}, err
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			e := page[i]
			if e.Seq >= first {
				break
			}
			id := e.InitID
			if sess.discontinuity(cur.prev, &e, cur.prev != nil && id != cur.prevInit) {
				cur.count++
			}
			cur.prev, cur.prevInit = &e, id
		}
		from = max(from, page[len(page)-1].Seq+1)
	}
	s.discMu.Lock()
	if s.discMemo == nil || len(s.discMemo) >= maxDiscMemo {
		s.discMemo = map[discKey]discMemo{}
	}
	s.discMemo[key] = discMemo{upTo: first, st: cur}
	s.discMu.Unlock()
	return cur, nil
}
