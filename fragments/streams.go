package fragments

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eddy-video/eddy/datastreams"
	"github.com/eddy-video/eddy/media"
)

// StatusActive is the status of every video stream: they are ACTIVE at
// once and gone at once when deleted.
const StatusActive = "ACTIVE"

// MaxRetentionHours is the longest retention a video stream takes (10 years).
const MaxRetentionHours = 87600

// videoExt is what a video stream keeps in its core stream's extension
// metadata.
type videoExt struct {
	DeviceName     string `json:"deviceName,omitempty"`
	MediaType      string `json:"mediaType,omitempty"`
	KmsKeyID       string `json:"kmsKeyId,omitempty"`
	Version        string `json:"version"`
	RetentionHours int    `json:"dataRetentionInHours"`
}

// VideoStream describes a video stream as DescribeStream shows it.
type VideoStream struct {
	Name                 string
	ARN                  string
	DeviceName           string
	MediaType            string
	KmsKeyID             string
	Version              string
	Status               string
	Created              time.Time
	DataRetentionInHours int
	RetentionBytes       int64
	Tags                 map[string]string
}

// CreateOptions describe a new video stream.
type CreateOptions struct {
	DeviceName     string
	MediaType      string
	KmsKeyID       string
	RetentionHours int
	RetentionBytes int64
	Tags           map[string]string
}

// Manager owns the video streams: each is a core stream of kind video
// (its fragment log, one shard) with a Store, plus the data stream
// {name}.events.
//
// Set the exported fields, then call Initialize; Close closes the stores.
type Manager struct {
	Core *datastreams.Core
	// AutoCreate makes Admit create an unknown stream with
	// DefaultRetentionHours (SetDefaultRetentionHours changes it while
	// the manager runs).
	AutoCreate            bool
	DefaultRetentionHours int
	// PartDuration is the Low-Latency HLS part target: the recorder cuts
	// each fragment into parts of at most this duration (Store.Live), and
	// LIVE fMP4 sessions are LL-HLS when it is set (0: off).
	PartDuration time.Duration
	// BeforeDelete, when set, is called when a deleted stream's store has
	// left the manager (Store no longer finds it) and before it closes, so
	// that what writes to it (the recorder) stops first; and once more
	// after the delete's commit, for what started in between.
	BeforeDelete func(name string)
	Logger       *slog.Logger
	Registerer   prometheus.Registerer

	mu       sync.Mutex
	stores   map[string]*Store
	deleting map[string]bool // names being deleted: not created again until done
	closed   bool
	reads    atomic.Int64 // fragment records read from the logs, all stores

	defaultRetention atomic.Int64 // DefaultRetentionHours as set now
	// eventsGone holds the event counts of deleted streams' timelines
	// (indexed, refused, dropped), so the totals never go down.
	eventsGone [3]atomic.Uint64
	leaving    map[*Store]bool // stores being deleted: out of stores, counted until closed
	// fresh holds the streams Admit created that have not recorded
	// anything yet, with how many publications are let in on each and not
	// ended (Unpublished); a stream whose last one ends having published
	// nothing is deleted again, so a refused or abandoned publish leaves
	// no empty stream behind.
	fresh map[string]int
}

// Initialize opens the store of every video stream.
func (m *Manager) Initialize() error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	m.Logger = m.Logger.With("component", "fragments")
	if m.DefaultRetentionHours == 0 {
		m.DefaultRetentionHours = datastreams.DefaultRetentionHours
	}
	m.defaultRetention.Store(int64(m.DefaultRetentionHours))
	m.stores = map[string]*Store{}
	m.deleting = map[string]bool{}
	m.leaving = map[*Store]bool{}
	m.fresh = map[string]int{}
	if m.Registerer != nil {
		m.Registerer.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "eddy_fragment_reads_total",
			Help: "Fragment records read from the logs (segments, clips, MKV, index rebuilds); playlists read none."},
			func() float64 { return float64(m.MediaReads()) }))
	}
	if m.Registerer != nil {
		m.registerEventMetrics()
	}
	if err := m.repair(); err != nil {
		return err
	}
	for _, s := range m.Core.Streams() {
		if s.Kind() != datastreams.StreamKindVideo {
			continue
		}
		st, err := openStore(s, m.eventsOf(s.Name()), &m.reads, m.Logger)
		if err != nil {
			return fmt.Errorf("video stream %s: %w", s.Name(), err)
		}
		m.stores[s.Name()] = st
	}
	// Size caps as the tags say, and applied now: a stream may have been
	// capped, or its cap lowered, just before a stop.
	for name := range m.stores {
		if err := m.applyMaxBytes(name); err != nil {
			return fmt.Errorf("video stream %s: %s: %w", name, MaxBytesTag, err)
		}
		m.stores[name].enforceCap()
	}
	return nil
}

// repair finishes what a crash (or a failure, or an Eddy of data format 1)
// left half-done: a video stream exists with its event stream or not at
// all. The video stream is the commit of a create (made after its event
// stream) and of a delete (removed before it): an event stream without
// its video stream is deleted, a video stream without its event stream
// gets one.
func (m *Manager) repair() error {
	for _, s := range m.Core.Streams() {
		switch name := s.Name(); s.Kind() {
		case datastreams.StreamKindEvents:
			if _, err := m.videoStream(strings.TrimSuffix(name, EventsSuffix)); err != nil {
				m.Logger.Warn("deleting an event stream whose video stream is gone", "stream", name)
				if err := m.Core.DeleteStream(name, true); err != nil {
					return fmt.Errorf("event stream %s: %w", name, err)
				}
			}
		case datastreams.StreamKindVideo:
			ev := m.eventsOf(name)
			if ev == nil {
				m.Logger.Warn("creating the missing event stream of a video stream", "stream", name)
				if _, err := m.createEvents(name, readExt(s).RetentionHours); err != nil {
					return fmt.Errorf("video stream %s: %w", name, err)
				}
			} else if h := eventRetention(readExt(s).RetentionHours); ev.RetentionHours() != h {
				// Event streams made before their retention followed the
				// video's (which kept them 24 hours to 1 year) follow it now.
				if err := ev.SetRetention(h, h > ev.RetentionHours()); err != nil {
					return fmt.Errorf("event stream %s: %w", ev.Name(), err)
				}
			}
		}
	}
	return nil
}

// Close closes the stores (stop what writes to them first).
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, st := range m.stores {
		_ = st.close()
	}
	m.stores = map[string]*Store{}
}

func (m *Manager) eventsOf(name string) *datastreams.Stream {
	s, err := m.Core.Stream(name + EventsSuffix)
	if err != nil || s.Kind() != datastreams.StreamKindEvents {
		return nil
	}
	return s
}

// ARNPattern is the ARN pattern of every stream named name, whenever
// created: the resource of a permission message, which must not tell a
// caller whether the stream exists.
func (m *Manager) ARNPattern(name string) string {
	return fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/*", m.Core.Region, m.Core.AccountID, name)
}

// MediaReads returns how many fragment records the stores have read from
// their logs since Initialize.
func (m *Manager) MediaReads() int64 { return m.reads.Load() }

// ARN returns a video stream's ARN (Kinesis Video format).
func (m *Manager) ARN(name string, created time.Time) string {
	return fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/%d", m.Core.Region, m.Core.AccountID, name, created.UnixMilli())
}

// NameFromARN returns the stream name an ARN names.
func (m *Manager) NameFromARN(arn string) (string, bool) {
	prefix := fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/", m.Core.Region, m.Core.AccountID)
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		return "", false
	}
	name, _, ok := strings.Cut(rest, "/")
	return name, ok && validName(name)
}

func newVersion() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func notFound(name string) *Error {
	return errf(KindNotFound, "The requested stream %s is not found or not active.", name)
}

// CreateStream creates a video stream and its event stream.
func (m *Manager) CreateStream(name string, o CreateOptions) (VideoStream, error) {
	if !validName(name) {
		return VideoStream{}, errf(KindInvalidArgument, "Stream name %q is invalid: it must match [a-zA-Z0-9_.-]+, be 1 to 256 characters long and not end in %q.", name, EventsSuffix)
	}
	if o.RetentionHours < 0 || o.RetentionHours > MaxRetentionHours {
		return VideoStream{}, errf(KindInvalidArgument, "DataRetentionInHours %d is outside 0 to %d.", o.RetentionHours, MaxRetentionHours)
	}
	if len(o.Tags) > 50 {
		return VideoStream{}, errf(KindTagsLimit, "A stream can have at most 50 tags.")
	}
	if err := checkHot(o.Tags); err != nil {
		return VideoStream{}, err
	}
	if n, ok, err := maxBytesOf(o.Tags); err != nil {
		return VideoStream{}, err
	} else if ok {
		o.RetentionBytes = n
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return VideoStream{}, errf(KindInternal, "Eddy is shutting down.")
	}
	if _, ok := m.stores[name]; ok {
		return VideoStream{}, errf(KindInUse, "The stream %s already exists.", name)
	}
	if m.deleting[name] {
		return VideoStream{}, errf(KindInUse, "The stream %s is being deleted.", name)
	}
	if _, err := m.Core.Stream(name); err == nil {
		return VideoStream{}, errf(KindInUse, "The name %s is taken by a Kinesis data stream.", name)
	}
	if err := m.dropOrphanEvents(name); err != nil {
		return VideoStream{}, err
	}
	if o.KmsKeyID == "" {
		o.KmsKeyID = fmt.Sprintf("arn:aws:kms:%s:%s:alias/aws/kinesisvideo", m.Core.Region, m.Core.AccountID)
	}
	// The event stream first: the video stream is the commit (repair).
	events, err := m.createEvents(name, o.RetentionHours)
	if err != nil {
		return VideoStream{}, err
	}
	ext, _ := json.Marshal(videoExt{DeviceName: o.DeviceName, MediaType: o.MediaType, KmsKeyID: o.KmsKeyID, Version: newVersion(), RetentionHours: o.RetentionHours})
	s, err := m.Core.CreateStream(name, datastreams.CreateOptions{
		ShardCount: 1, Mode: datastreams.ModeOnDemand, RetentionHours: max(o.RetentionHours, datastreams.MinLogRetentionHours),
		RetentionBytes: o.RetentionBytes, Tags: o.Tags, Kind: datastreams.StreamKindVideo, Ext: ext, Immediate: true,
	})
	if err != nil {
		m.undoCreate(name, false)
		return VideoStream{}, err
	}
	st, err := openStore(s, events, &m.reads, m.Logger)
	if err != nil {
		m.undoCreate(name, true)
		return VideoStream{}, err
	}
	m.stores[name] = st
	m.Logger.Info("video stream created", "stream", name, "retention_hours", o.RetentionHours)
	return m.describe(s)
}

// dropOrphanEvents deletes the event stream left by a video stream whose
// delete did not finish (repair does the same at start); any other
// stream of the event stream's name takes the name.
func (m *Manager) dropOrphanEvents(name string) error {
	ev, err := m.Core.Stream(name + EventsSuffix)
	if err != nil {
		return nil
	}
	if ev.Kind() != datastreams.StreamKindEvents {
		return errf(KindInUse, "The name %s is taken: a data stream %s%s exists.", name, name, EventsSuffix)
	}
	m.Logger.Warn("deleting an event stream whose video stream is gone", "stream", ev.Name())
	return m.Core.DeleteStream(ev.Name(), true)
}

// createEvents creates the event stream of video stream name.
func (m *Manager) createEvents(name string, retentionHours int) (*datastreams.Stream, error) {
	return m.Core.CreateStream(name+EventsSuffix, datastreams.CreateOptions{
		ShardCount: 1, Mode: datastreams.ModeOnDemand, RetentionHours: eventRetention(retentionHours),
		Kind: datastreams.StreamKindEvents, Immediate: true,
	})
}

// undoCreate removes what a failed CreateStream made; what it cannot
// remove, repair removes at the next start.
func (m *Manager) undoCreate(name string, video bool) {
	if video {
		if err := m.Core.DeleteStream(name, true); err != nil {
			m.Logger.Error("undo a failed create", "stream", name, "err", err)
			return // the event stream must outlive its video stream
		}
	}
	if err := m.Core.DeleteStream(name+EventsSuffix, true); err != nil {
		m.Logger.Error("undo a failed create", "stream", name+EventsSuffix, "err", err)
	}
}

// eventRetention is the event stream's retention for a video retention:
// the video log's, so events live as long as the video they describe.
func eventRetention(h int) int {
	return max(h, datastreams.MinLogRetentionHours)
}

func (m *Manager) videoStream(name string) (*datastreams.Stream, error) {
	s, err := m.Core.Stream(name)
	if err != nil || s.Kind() != datastreams.StreamKindVideo {
		return nil, notFound(name)
	}
	return s, nil
}

func readExt(s *datastreams.Stream) videoExt {
	var e videoExt
	_ = json.Unmarshal(s.Ext(), &e)
	return e
}

func (m *Manager) describe(s *datastreams.Stream) (VideoStream, error) {
	info := s.Info()
	e := readExt(s)
	return VideoStream{
		Name: info.Name, ARN: m.ARN(info.Name, info.Created), DeviceName: e.DeviceName, MediaType: e.MediaType,
		KmsKeyID: e.KmsKeyID, Version: e.Version, Status: StatusActive, Created: info.Created,
		DataRetentionInHours: e.RetentionHours, RetentionBytes: info.RetentionBytes, Tags: info.Tags,
	}, nil
}

// Describe returns a video stream's description.
func (m *Manager) Describe(name string) (VideoStream, error) {
	s, err := m.videoStream(name)
	if err != nil {
		return VideoStream{}, err
	}
	return m.describe(s)
}

// List returns every video stream, by name.
func (m *Manager) List() []VideoStream {
	var out []VideoStream
	for _, s := range m.Core.Streams() {
		if s.Kind() != datastreams.StreamKindVideo {
			continue
		}
		if d, err := m.describe(s); err == nil {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkVersion compares a caller's CurrentVersion with the stream's.
func checkVersion(e videoExt, current *string) error {
	if current != nil && *current != e.Version {
		return errf(KindVersionMismatch, "The version %s does not match the stream's current version %s.", *current, e.Version)
	}
	return nil
}

// DeleteStream deletes a video stream, its fragments and its event
// stream. currentVersion, when given, must match.
func (m *Manager) DeleteStream(name string, currentVersion *string) error {
	return m.deleteStream(name, currentVersion, nil)
}

// errNotDeleted is deleteStream's answer when only returned false.
var errNotDeleted = errors.New("fragments: stream kept")

// deleteStream is DeleteStream; only, when set, is called with m.mu held
// before anything is done and the stream is deleted only if it returns
// true (otherwise it returns errNotDeleted and does nothing).
func (m *Manager) deleteStream(name string, currentVersion *string, only func() bool) error {
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	if err := checkVersion(readExt(s), currentVersion); err != nil {
		return err
	}
	m.mu.Lock()
	if only != nil && !only() {
		m.mu.Unlock()
		return errNotDeleted
	}
	if m.deleting[name] {
		m.mu.Unlock()
		return errf(KindInUse, "The stream %s is being deleted.", name)
	}
	m.deleting[name] = true
	delete(m.fresh, name)
	st := m.stores[name]
	delete(m.stores, name)
	if st != nil {
		m.leaving[st] = true // its event counts still count
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.deleting, name)
		m.mu.Unlock()
	}()
	// Out of the map first, so nothing new starts writing to it.
	if m.BeforeDelete != nil {
		m.BeforeDelete(name)
	}
	// The video stream's delete is the commit; if it fails, the stream
	// stays as it was (its store back in the map).
	if err := m.Core.DeleteStream(name, true); err != nil {
		if st != nil {
			m.mu.Lock()
			m.stores[name] = st
			delete(m.leaving, st)
			m.mu.Unlock()
		}
		return err
	}
	if st != nil {
		_ = st.close()
		m.keepEventCounts(st)
	}
	if m.BeforeDelete != nil {
		// Again: a publication admitted just before the name was marked
		// deleting, and published after the first call, ends too.
		m.BeforeDelete(name)
	}
	if err := m.Core.DeleteStream(name+EventsSuffix, true); err != nil {
		// Left for CreateStream of the name or the next start (repair).
		m.Logger.Warn("delete event stream", "stream", name, "err", err)
	}
	m.Logger.Info("video stream deleted", "stream", name)
	return nil
}

// Update changes DeviceName and MediaType (when given) and the version.
func (m *Manager) Update(name string, currentVersion *string, deviceName, mediaType *string) error {
	m.keep(name) // changed through the API: not deleted for an empty publish
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	return s.UpdateExt(func(old json.RawMessage) (json.RawMessage, error) {
		var e videoExt
		_ = json.Unmarshal(old, &e)
		if err := checkVersion(e, currentVersion); err != nil {
			return nil, err
		}
		if deviceName != nil {
			e.DeviceName = *deviceName
		}
		if mediaType != nil {
			e.MediaType = *mediaType
		}
		e.Version = newVersion()
		return json.Marshal(e)
	})
}

// UpdateRetention adds or removes hours of retention; a decrease drops
// data older than the new retention at once.
func (m *Manager) UpdateRetention(name string, currentVersion *string, increase bool, delta int) error {
	m.keep(name) // changed through the API: not deleted for an empty publish
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	var hours int
	err = s.UpdateExt(func(old json.RawMessage) (json.RawMessage, error) {
		var e videoExt
		_ = json.Unmarshal(old, &e)
		if err := checkVersion(e, currentVersion); err != nil {
			return nil, err
		}
		hours = e.RetentionHours + delta
		if !increase {
			hours = e.RetentionHours - delta
		}
		if hours < 0 || hours > MaxRetentionHours {
			return nil, errf(KindInvalidArgument, "The resulting data retention %d hours is outside 0 to %d hours.", hours, MaxRetentionHours)
		}
		e.RetentionHours = hours
		e.Version = newVersion()
		return json.Marshal(e)
	})
	if err != nil {
		return err
	}
	logHours := max(hours, datastreams.MinLogRetentionHours)
	if err := s.SetRetention(logHours, logHours >= s.RetentionHours()); err != nil {
		return err
	}
	if ev := m.eventsOf(name); ev != nil {
		// Events live as long as the video they describe.
		if err := ev.SetRetention(logHours, logHours >= ev.RetentionHours()); err != nil {
			return err
		}
		if !increase {
			_, _, _ = ev.EnforceRetention()
			m.Trimmed(ev)
		}
	}
	if !increase {
		// A decrease drops data older than the new retention at once.
		recs, bytes, err := s.EnforceRetention()
		if err != nil {
			return err
		}
		if recs > 0 {
			m.Logger.Info("retention trimmed", "stream", name, "fragments", recs, "bytes", bytes)
		}
		m.Trimmed(s)
	}
	return nil
}

// SetRetentionBytes caps a video stream's size on disk (0: the core's
// default cap, if any).
func (m *Manager) SetRetentionBytes(name string, n int64) error {
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	return s.SetRetentionBytes(n)
}

// Tag adds or replaces tags; a stream holds at most 50. MaxBytesTag
// sets the stream's size cap, applied at once.
func (m *Manager) Tag(name string, tags map[string]string) error {
	m.keep(name) // changed through the API: not deleted for an empty publish
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	if err := checkHot(tags); err != nil {
		return err
	}
	_, capped, err := maxBytesOf(tags)
	if err != nil {
		return err
	}
	if err := m.tag(s, name, tags); err != nil || !capped {
		return err
	}
	return m.applyMaxBytes(name)
}

func (m *Manager) tag(s *datastreams.Stream, name string, tags map[string]string) error {
	return s.UpdateTags(func(cur map[string]string) error {
		n := len(cur)
		for k := range tags {
			if _, ok := cur[k]; !ok {
				n++
			}
		}
		if n > 50 {
			return errf(KindTagsLimit, "The stream %s would have %d tags; the limit is 50.", name, n)
		}
		for k, v := range tags {
			cur[k] = v
		}
		return nil
	})
}

// Untag removes tags by key; removing MaxBytesTag removes the size cap.
func (m *Manager) Untag(name string, keys []string) error {
	m.keep(name) // changed through the API: not deleted for an empty publish
	s, err := m.videoStream(name)
	if err != nil {
		return err
	}
	if slices.Contains(keys, MaxBytesTag) {
		if _, ok := s.Info().Tags[MaxBytesTag]; ok {
			// The cap goes first: should the tag's removal fail, the
			// start re-applies the cap from the tag.
			if err := s.SetRetentionBytes(0); err != nil {
				return err
			}
		}
	}
	return s.UpdateTags(func(cur map[string]string) error {
		for _, k := range keys {
			delete(cur, k)
		}
		return nil
	})
}

// Store returns a video stream's fragment store.
func (m *Manager) Store(name string) (*Store, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.stores[name]
	if !ok {
		return nil, notFound(name)
	}
	return st, nil
}

// Trimmed is called after retention removed records of a core stream;
// the store's index follows.
func (m *Manager) Trimmed(s *datastreams.Stream) {
	switch s.Kind() {
	case datastreams.StreamKindVideo:
		m.mu.Lock()
		st := m.stores[s.Name()]
		m.mu.Unlock()
		if st != nil {
			st.trim()
		}
	case datastreams.StreamKindEvents:
		// The timeline drops the hours whose records all went.
		m.mu.Lock()
		st := m.stores[strings.TrimSuffix(s.Name(), EventsSuffix)]
		m.mu.Unlock()
		if st != nil && st.timeline != nil {
			st.timeline.Trim()
		}
	}
}

// SetDefaultRetentionHours changes the retention of the streams Admit
// creates from now on, as a configuration reload does (0: 24 hours, as
// at Initialize); existing streams keep theirs.
func (m *Manager) SetDefaultRetentionHours(h int) {
	if h == 0 {
		h = datastreams.DefaultRetentionHours
	}
	m.defaultRetention.Store(int64(h))
}

// DefaultRetention returns the retention, in hours, of the streams Admit
// creates.
func (m *Manager) DefaultRetention() int { return int(m.defaultRetention.Load()) }

// Admit lets a publication in (the media registry's Admit): the stream
// must exist, or is created when AutoCreate is on.
func (m *Manager) Admit(name string, _ []media.Track) error {
	// A camera that reconnects while its stream is being deleted (its
	// publication was just ended) would otherwise be admitted to a stream
	// about to go, and stay live with nothing recording it.
	m.mu.Lock()
	deleting := m.deleting[name]
	m.mu.Unlock()
	if deleting {
		return fmt.Errorf("%w: video stream %s is being deleted", media.ErrNotFound, name)
	}
	if _, err := m.videoStream(name); err == nil {
		m.admitted(name)
		return nil
	}
	if !m.AutoCreate {
		return fmt.Errorf("%w: video stream %s does not exist (auto-create is off)", media.ErrNotFound, name)
	}
	_, err := m.CreateStream(name, CreateOptions{RetentionHours: m.DefaultRetention(), DeviceName: "rtsp", MediaType: ""})
	if err == nil {
		m.mu.Lock()
		m.fresh[name]++
		m.mu.Unlock()
		return nil
	}
	var e *Error
	if (errors.As(err, &e) && e.Kind == KindInUse) || datastreams.KindOf(err) == datastreams.KindInUse {
		if _, err2 := m.videoStream(name); err2 == nil {
			m.admitted(name)
			return nil // created concurrently
		}
	}
	return err
}

// admitted counts a publication let in on a stream that exists: one more
// that must end before a fresh stream may go.
func (m *Manager) admitted(name string) {
	m.mu.Lock()
	if _, ok := m.fresh[name]; ok {
		m.fresh[name]++
	}
	m.mu.Unlock()
}

// keep makes a stream Admit created an ordinary one: something was
// recorded, or someone changed it through the API.
func (m *Manager) keep(name string) {
	m.mu.Lock()
	delete(m.fresh, name)
	m.mu.Unlock()
}

// Unpublished is told that a publication Admit let in has ended, and
// whether it published anything (a unit). A stream Admit created for a
// publish that was then refused or abandoned (an RTSP ANNOUNCE without
// RECORD, a publisher that gave up at SETUP, a WHIP session that never
// connected, a PutMedia upload whose clusters were refused) is deleted
// again when no other publication is on it and it holds no fragment:
// the stream exists only for a publish that was accepted.
func (m *Manager) Unpublished(name string, published bool) {
	m.mu.Lock()
	n, ok := m.fresh[name]
	switch {
	case !ok:
		m.mu.Unlock()
		return
	case published:
		delete(m.fresh, name)
		m.mu.Unlock()
		return
	case n > 1:
		m.fresh[name] = n - 1
		m.mu.Unlock()
		return
	}
	m.fresh[name] = 0 // deleting, unless a publication is admitted first
	m.mu.Unlock()
	err := m.deleteStream(name, nil, func() bool {
		// Under m.mu: still fresh with no publication, and empty.
		if n, ok := m.fresh[name]; !ok || n > 0 {
			return false
		}
		delete(m.fresh, name)
		st := m.stores[name]
		if st == nil {
			return false
		}
		first, next := st.shard.Log().Bounds()
		return first == next
	})
	switch {
	case errors.Is(err, errNotDeleted):
	case err != nil:
		m.Logger.Warn("delete a stream created for a publish that sent nothing", "stream", name, "err", err)
	default:
		m.Logger.Info("deleted the stream created for a publish that sent nothing", "stream", name)
	}
}
