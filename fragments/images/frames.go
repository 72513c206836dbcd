package images

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/eddy-video/eddy/fragments"
	"github.com/eddy-video/eddy/fragments/cmaf"
)

// Spec is the image to make of each frame.
type Spec struct {
	Format string // "JPEG" or "PNG"
	// Width and Height in pixels: both set stretch the frame to that size;
	// one set derives the other from the source's aspect ratio; neither
	// keeps the source size (the Kinesis Video GetImages rules).
	Width, Height int
	Quality       int // JPEG quality 1–100; 0 means 80
}

// Result is the image of one requested time: Image, or Err (ErrNoMedia,
// ErrMediaError, or the reason the request could not be served).
type Result struct {
	Time  time.Time
	Image []byte
	Err   error
}

// Limits of the frame search.
const (
	// lookback is how far before a time the fragment covering it may
	// start: well past the fragmenter's longest fragment (10 s).
	lookback = 2 * time.Minute
	// maxChain bounds the fragments walked back from one that does not
	// start on a keyframe (a GOP cut at the maximum duration) to the one
	// holding its keyframe.
	maxChain = 16
)

func (sp Spec) check() error {
	switch {
	case sp.Format != "JPEG" && sp.Format != "PNG":
		return fmt.Errorf("images: format %q is not JPEG or PNG", sp.Format)
	case sp.Width < 0 || sp.Height < 0:
		return fmt.Errorf("images: negative size %dx%d", sp.Width, sp.Height)
	case sp.Quality < 0 || sp.Quality > 100:
		return fmt.Errorf("images: JPEG quality %d is not 1–100", sp.Quality)
	}
	return nil
}

// Frames decodes the frames nearest each of times (sorted) from the
// stream's store, on the given clock, each from its fragment's keyframe
// forward; per time: image bytes, or ErrNoMedia / ErrMediaError (also for
// an image over the Service's MaxImage). The GOPs the times fall in are
// found from the index alone, then decoded in parallel batches, each
// batch's fragments read only while it holds one of the Service's worker
// slots (and dropped when it lets go); ctx ending stops (kills) the
// decodes.
func (s *Service) Frames(ctx context.Context, st *fragments.Store, clock fragments.IndexTime, times []time.Time, spec Spec) []Result {
	res := make([]Result, len(times))
	for i, t := range times {
		res[i].Time = t
	}
	fail := func(err error) []Result {
		for i := range res {
			res[i].Err = err
		}
		return res
	}
	if len(times) == 0 {
		return res
	}
	if s.missing != nil {
		return fail(s.missing)
	}
	if err := spec.check(); err != nil {
		return fail(err)
	}
	entries, err := covering(st, clock, times[0], times[len(times)-1])
	if err != nil {
		return fail(err)
	}
	jobs := plan(st, clock, entries, times, res)
	var wg sync.WaitGroup
	for _, b := range s.batches(jobs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runBatch(ctx, st, b, spec, res)
		}()
	}
	wg.Wait()
	for i := range res {
		switch {
		case res[i].Err == nil:
			s.m.images.Inc()
		case errors.Is(res[i].Err, ErrNoMedia):
			s.m.errors.WithLabelValues("NO_MEDIA").Inc()
		case errors.Is(res[i].Err, ErrMediaError):
			s.m.errors.WithLabelValues("MEDIA_ERROR").Inc()
		}
	}
	return res
}

// covering lists the index entries that may cover [first, last]: those
// starting from lookback before first up to seam after last (cover needs
// the start that follows a hole to tell a seam from a gap).
func covering(st *fragments.Store, clock fragments.IndexTime, first, last time.Time) ([]fragments.IndexEntry, error) {
	var all []fragments.IndexEntry
	from := uint64(0)
	for {
		page, next, err := st.List(clock, first.Add(-lookback), last.Add(seam), from, 1000)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == 0 {
			return all, nil
		}
		from = next
	}
}

func entryTime(e *fragments.IndexEntry, clock fragments.IndexTime) int64 {
	if clock == fragments.IndexServerTime {
		return e.ServerTime
	}
	return e.ProducerTime
}

// Cover returns the stored fragment whose frame Frames decodes for t on
// clock (the rule of cover), and whether one covers t: a cache of images
// keyed by fragment follows exactly what a decode gives.
func Cover(st *fragments.Store, clock fragments.IndexTime, t time.Time) (fragments.IndexEntry, bool, error) {
	entries, err := covering(st, clock, t, t)
	if err != nil {
		return fragments.IndexEntry{}, false, err
	}
	if e := cover(entries, clock, t.UnixNano()); e != nil {
		return *e, true, nil
	}
	return fragments.IndexEntry{}, false, nil
}

// cover returns the entry that covers t, or nil: the latest starting at
// or before t (at millisecond precision, as the wire carries times) whose
// span [start, start+duration) holds t. A hole of at most seam between
// one fragment's end and the next one's start counts as the earlier
// fragment's: fragment durations are approximate when B-frames reorder
// the first frames of a fragment, and such holes are not gaps in the
// media.
func cover(entries []fragments.IndexEntry, clock fragments.IndexTime, t int64) *fragments.IndexEntry {
	var best *fragments.IndexEntry
	next := int64(math.MaxInt64) // the earliest start after t
	for i := range entries {
		e := &entries[i]
		start := entryTime(e, clock)
		if start-start%1e6 > t {
			next = min(next, start)
			continue
		}
		if best == nil || start >= entryTime(best, clock) {
			best = e
		}
	}
	if best == nil {
		return nil
	}
	end := entryTime(best, clock) + max(best.Duration, 1)
	if t < end || (t < next && next-end <= int64(seam)) {
		return best
	}
	return nil
}

// seam is the largest hole between consecutive fragments that is not a
// gap (see cover).
const seam = 500 * time.Millisecond

// A job is one GOP to decode: the fragments from its keyframe fragment
// (first) up to the last fragment a time falls in (last), and the times.
type job struct {
	clock       fragments.IndexTime
	first, last uint64 // sequences, from the index
	initID      fragments.InitID
	size        int64 // bytes of its fragments, from the index

	// Set by load, inside a worker slot, and dropped after the decode.
	init  []byte
	frags []*fragments.Fragment
	want  []want
	src   *cmaf.Init
	err   error // set when the GOP cannot be decoded at all

	// Set by prepare: the GOP's video frames (decode order), the distinct
	// presentation ranks to decode, and each want's rank.
	frames  []frame
	ranks   []int
	rankOf  []int
	lastPTS int64 // of the latest wanted frame
	// ptsOfRank is the PTS of each presentation rank: ffmpeg selects the
	// wanted frames by PTS (exact, whatever the decoder drops).
	ptsOfRank []int64
	track     int // the video track's ID
}

// want is one requested time of a job and its result index.
type want struct {
	res int
	t   int64 // Unix ns on the request's clock
}

// plan finds each time's fragment, sets NO_MEDIA where none covers it,
// and groups the others by GOP. It reads the index only.
func plan(st *fragments.Store, clock fragments.IndexTime, entries []fragments.IndexEntry, times []time.Time, res []Result) []*job {
	byStart := map[uint64]*job{}
	var jobs []*job
	for i, t := range times {
		e := cover(entries, clock, t.UnixNano())
		if e == nil {
			res[i].Err = fmt.Errorf("%w: no fragment covers %s", ErrNoMedia, t.UTC().Format(time.RFC3339Nano))
			continue
		}
		start, err := gopStart(st, e)
		if err != nil {
			res[i].Err = err
			continue
		}
		j := byStart[start]
		if j == nil {
			j = &job{clock: clock, first: start, last: e.Seq, initID: e.InitID}
			byStart[start] = j
			jobs = append(jobs, j)
		}
		j.last = max(j.last, e.Seq)
		j.want = append(j.want, want{res: i, t: t.UnixNano()})
	}
	for _, j := range jobs {
		for seq := j.first; seq <= j.last+1; seq++ {
			if e, ok := st.Lookup(seq); ok {
				j.size += e.Size
			}
		}
	}
	return jobs
}

// load reads the job's fragments (inside a worker slot).
func (j *job) load(st *fragments.Store) {
	for seq := j.first; seq <= j.last; seq++ {
		if j.err = j.add(st, seq); j.err != nil {
			return
		}
	}
	j.extend(st)
}

// drop lets the job's fragments and frames go once they are decoded.
func (j *job) drop() {
	j.init, j.frags, j.src, j.frames = nil, nil, nil, nil
}

// extend adds the fragment after the job's last when it continues the
// same GOP: with B-frames, a frame presented inside the last fragment's
// span may be stored in the next one (decode order).
func (j *job) extend(st *fragments.Store) {
	if j.err != nil {
		return
	}
	next := j.frags[len(j.frags)-1].Seq + 1
	if e, ok := st.Lookup(next); !ok || e.Flags&fragments.IndexKeyframe != 0 || e.InitID != j.initID {
		return
	}
	f, err := st.Read(next)
	if err != nil || f.Keyframe || f.InitID != j.initID {
		return
	}
	j.frags = append(j.frags, f)
}

// add reads fragment seq into the job: it must share the GOP's init
// segment.
func (j *job) add(st *fragments.Store, seq uint64) error {
	f, err := st.Read(seq)
	if err != nil {
		// %w twice: a read that needs the unreachable object store stays
		// one (logstore.ErrUnavailable) for the API to answer.
		return fmt.Errorf("%w: fragment %s: %w", ErrMediaError, fragments.FragmentNumber(seq), err)
	}
	if f.InitID != j.initID {
		return fmt.Errorf("%w: the codec configuration changes inside the GOP", ErrMediaError)
	}
	if j.init == nil {
		b, err := st.Init(f.InitID)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMediaError, err)
		}
		if j.src, err = cmaf.ParseInit(b); err != nil {
			return fmt.Errorf("%w: %v", ErrMediaError, err)
		}
		j.init = b
	}
	j.frags = append(j.frags, f)
	return nil
}

// gopStart returns the sequence of the fragment holding the keyframe that
// starts e's GOP: e itself, or one at most maxChain before it, found by
// the index entries' keyframe flags (no fragment is read).
func gopStart(st *fragments.Store, e *fragments.IndexEntry) (uint64, error) {
	if e.Flags&fragments.IndexKeyframe != 0 {
		return e.Seq, nil
	}
	for seq, n := e.Seq, 0; seq > 0 && n < maxChain; n++ {
		seq--
		p, ok := st.Lookup(seq)
		if !ok || p.InitID != e.InitID {
			break
		}
		if p.Flags&fragments.IndexKeyframe != 0 {
			return seq, nil
		}
	}
	return 0, fmt.Errorf("%w: the keyframe of fragment %s's GOP is not stored", ErrMediaError, fragments.FragmentNumber(e.Seq))
}

// frame is one video sample of a job, in decode order.
type frame struct {
	pts    int64 // track timescale, continuous across the job's fragments
	dts    int64
	t      int64 // Unix ns on the request's clock
	frag   int   // index in job.frags
	sample *fmp4.Sample
}

// videoFrames demuxes the job's video samples and places each on the
// request's clock: its fragment's start time plus its presentation offset
// from the fragment's first sample.
func (j *job) videoFrames(clock fragments.IndexTime) ([]frame, error) {
	var video int
	var scale int64
	for _, it := range j.src.Tracks {
		if it.Codec.IsVideo() {
			video, scale = it.ID, int64(it.TimeScale)
			break
		}
	}
	if video == 0 || scale <= 0 {
		return nil, fmt.Errorf("%w: the stream has no video track", ErrMediaError)
	}
	j.track = video
	var out []frame
	for fi, f := range j.frags {
		parts, err := cmaf.Demux(f.Media)
		if err != nil {
			return nil, fmt.Errorf("%w: fragment %s: %v", ErrMediaError, fragments.FragmentNumber(f.Seq), err)
		}
		base := f.ProducerTime
		if clock == fragments.IndexServerTime {
			base = f.ServerTime
		}
		first := true
		var start int64
		for _, p := range parts {
			for _, pt := range p.Tracks {
				if pt.ID != video {
					continue
				}
				dts := int64(pt.BaseTime)
				for _, smp := range pt.Samples {
					pts := dts + int64(smp.PTSOffset)
					if first {
						start, first = pts, false
					}
					out = append(out, frame{pts: pts, dts: dts, t: base + (pts-start)*1e9/scale, frag: fi, sample: smp})
					dts += int64(smp.Duration)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the fragments hold no video frames", ErrMediaError)
	}
	return out, nil
}

// selection maps each wanted time to the presentation rank (the n of
// ffmpeg's select filter) of its nearest frame in the job, and returns the
// distinct ranks in order.
func (j *job) selection(frames []frame) (ranks []int, rankOf []int) {
	order := make([]int, len(frames))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return frames[order[a]].pts < frames[order[b]].pts })
	rank := make([]int, len(frames))
	j.ptsOfRank = make([]int64, len(frames))
	for r, i := range order {
		rank[i] = r
		j.ptsOfRank[r] = frames[i].pts
	}
	rankOf = make([]int, len(j.want))
	seen := map[int]bool{}
	j.lastPTS = math.MinInt64
	for wi, w := range j.want {
		best := 0
		for i, fr := range frames {
			if absDiff(fr.t, w.t) < absDiff(frames[best].t, w.t) {
				best = i
			}
		}
		rankOf[wi] = rank[best]
		j.lastPTS = max(j.lastPTS, frames[best].pts)
		if !seen[rank[best]] {
			seen[rank[best]] = true
			ranks = append(ranks, rank[best])
		}
	}
	sort.Ints(ranks)
	return ranks, rankOf
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// media returns what ffmpeg is fed of the job after the init segment:
// its video samples in decode order up to the last one that a frame
// presented at or before the latest wanted frame needs (frames are only
// predicted from frames decoded before them), as one media segment per
// fragment. The rest of the GOP, and the audio, are left out: nobody
// decodes them. Every composition offset is raised by shift, so that none
// is negative: ffmpeg's MP4 reader would otherwise shift the timestamps
// it reports by the most negative offset seen so far.
func (j *job) media(shift int32) ([]byte, error) {
	cut := 0
	for i, f := range j.frames {
		if f.pts <= j.lastPTS {
			cut = i
		}
	}
	fed := j.frames[:cut+1]
	var buf seekablebuffer.Buffer
	for len(fed) > 0 {
		n := 1
		for n < len(fed) && fed[n].frag == fed[0].frag {
			n++
		}
		pt := &fmp4.PartTrack{ID: j.track, BaseTime: uint64(fed[0].dts)}
		for _, f := range fed[:n] {
			smp := *f.sample
			smp.PTSOffset += shift
			pt.Samples = append(pt.Samples, &smp)
		}
		p := fmp4.Part{SequenceNumber: uint32(fed[0].frag + 1), Tracks: []*fmp4.PartTrack{pt}}
		if err := p.Marshal(&buf); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMediaError, err)
		}
		fed = fed[n:]
	}
	return buf.Bytes(), nil
}

// ptsShift is what raises every composition offset of the batch to 0 or
// more (see media).
func ptsShift(batch []*job) int32 {
	var shift int32
	for _, j := range batch {
		for _, f := range j.frames {
			shift = max(shift, -f.sample.PTSOffset)
		}
	}
	return shift
}
