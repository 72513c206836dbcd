package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is Eddy's configuration. Defaults live in DefaultConfig; a YAML
// file, EDDY_* environment variables and flags override them, in that order.
type Config struct {
	// Data is the directory holding every stream's data.
	Data string `yaml:"data"`
	// HTTP, RTSP and WebRTC are listen addresses.
	HTTP   string `yaml:"http"`
	RTSP   string `yaml:"rtsp"`
	WebRTC string `yaml:"webrtc"`
	// RTSPUDPRTP and RTSPUDPRTCP are the UDP listeners for RTSP's UDP
	// transport (an even port and the next one); empty: TCP only.
	RTSPUDPRTP  string `yaml:"rtsp_udp_rtp"`
	RTSPUDPRTCP string `yaml:"rtsp_udp_rtcp"`
	// TLSCert and TLSKey (PEM files) turn on HTTPS (HTTP/1.1 and HTTP/2)
	// on the HTTP listener and RTSPS on RTSPS. Without them the HTTP
	// listener serves HTTP/1.1 and cleartext HTTP/2 (h2c). Both files are
	// read again on SIGHUP.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// RTSPS is the listen address of RTSP over TLS (rtsps://), served when
	// TLSCert is set; empty: none.
	RTSPS string `yaml:"rtsps"`
	// Region and AccountID appear in ARNs and messages.
	Region    string `yaml:"region"`
	AccountID string `yaml:"account_id"`
	// InsecureAllowNetwork lets Eddy listen on non-loopback addresses
	// without credentials. Off by default.
	InsecureAllowNetwork bool   `yaml:"insecure_allow_network"`
	LogLevel             string `yaml:"log_level"`

	// Auth holds the identities every protocol checks. With at least one
	// credential, any listen address is allowed; without, loopback only.
	Auth AuthConfig `yaml:"auth"`
	// Limits bound what one client, or all of them, can hold.
	Limits LimitsConfig `yaml:"limits"`

	Storage StorageConfig `yaml:"storage"`
	Streams StreamsConfig `yaml:"streams"`
	Video   VideoConfig   `yaml:"video"`
	HLS     HLSConfig     `yaml:"hls"`
	// WebRTCOptions tunes WHEP/WHIP; WebRTC above is its ICE port.
	WebRTCOptions WebRTCConfig `yaml:"webrtc_options"`
	// Metrics bounds the per-stream series of /metrics.
	Metrics MetricsConfig `yaml:"metrics"`
	// Images tunes the FFmpeg decoding of thumbnails (images.go).
	Images ImagesConfig `yaml:"images"`
}

// AuthConfig holds the identities and how failures are handled.
type AuthConfig struct {
	Credentials []CredentialConfig `yaml:"credentials"`
	// MetricsToken (or MetricsTokenFile) lets a scraper read /metrics with
	// "Authorization: Bearer <token>", besides identities with eddy:admin.
	MetricsToken     string `yaml:"metrics_token"`
	MetricsTokenFile string `yaml:"metrics_token_file"`
	// FailureLimit is how many failed authentications a minute one address
	// may make before its requests are slowed down by FailureDelay (0:
	// never); other addresses are not.
	FailureLimit int      `yaml:"failure_limit"`
	FailureDelay Duration `yaml:"failure_delay"`
	// SessionTTL is how long a web UI login lasts.
	SessionTTL Duration `yaml:"session_ttl"`
	// MaxTokenTTL bounds the expiry of the bearer tokens Eddy issues
	// (POST /api/v1/tokens, eddy token).
	MaxTokenTTL Duration `yaml:"max_token_ttl"`
}

// CredentialConfig is one identity: an access key id, its secret (inline
// or in a file) and what it may do.
type CredentialConfig struct {
	AccessKeyID         string        `yaml:"access_key_id"`
	SecretAccessKey     string        `yaml:"secret_access_key"`
	SecretAccessKeyFile string        `yaml:"secret_access_key_file"`
	Allow               []AllowConfig `yaml:"allow"`
}

// AllowConfig allows actions (IAM names such as kinesis:PutRecords or
// kinesisvideo:GetClip, and rtsp:publish, rtsp:read, webrtc:publish,
// webrtc:read, hls:read, eddy:admin; * and ? wildcards) on streams (name
// patterns with * and ?).
type AllowConfig struct {
	Actions []string `yaml:"actions"`
	Streams []string `yaml:"streams"`
}

// LimitsConfig bounds connections and requests, so that no client can
// exhaust file descriptors or memory.
type LimitsConfig struct {
	// Connections caps open connections per listener (HTTP, RTSP, RTSPS);
	// ConnectionsPerAddress caps those of one client address.
	Connections           int `yaml:"connections"`
	ConnectionsPerAddress int `yaml:"connections_per_address"`
	// HeaderBytes caps an HTTP request's header.
	HeaderBytes Size `yaml:"header_bytes"`
	// WriteTimeout bounds each write to a reader (SubscribeToShard,
	// GetMediaForFragmentList, GetClip, HLS segments, clip.mp4, RTSP
	// PLAY): one that cannot take it in time is cut and counted.
	WriteTimeout Duration `yaml:"write_timeout"`
	// GetMediaSession caps a GetMedia session (Kinesis Video ends its
	// sessions after about 50 minutes; the consumer resumes with its
	// continuation token).
	GetMediaSession Duration `yaml:"getmedia_session"`
}

// WebRTCConfig tunes WebRTC (WHEP playback, WHIP ingest).
type WebRTCConfig struct {
	// Advertise replaces the address in Eddy's ICE host candidates (IPs or
	// host names): the public address behind a 1:1 NAT, or the host's
	// address when Eddy runs in a container.
	Advertise []string `yaml:"advertise"`
	// ICEServers are STUN/TURN servers: handed to clients (Link headers),
	// and TURN ones used by Eddy for relay candidates.
	ICEServers []ICEServerConfig `yaml:"ice_servers"`
	// MaxSessions caps WHEP+WHIP sessions; MaxPending those still
	// connecting (a flood of offers gets 429).
	MaxSessions int `yaml:"max_sessions"`
	MaxPending  int `yaml:"max_pending"`
	// HandshakeTimeout ends sessions whose ICE/DTLS did not connect.
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	// KeyframeInterval is how often WHIP publishers are asked for a
	// keyframe: it bounds their GOPs and so the fragments.
	KeyframeInterval Duration `yaml:"keyframe_interval"`
}

// ICEServerConfig is one STUN or TURN server.
type ICEServerConfig struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// HLSConfig tunes HLS sessions.
type HLSConfig struct {
	// PartDuration is the Low-Latency HLS part target of LIVE fMP4
	// sessions (50ms to 1s); 0 turns LL-HLS off (plain segments only).
	PartDuration Duration `yaml:"part_duration"`
}

// VideoConfig holds video-stream behaviour.
type VideoConfig struct {
	// AutoCreate makes an RTSP publish to an unknown stream create it with
	// DefaultRetention; off, such a publisher gets 404.
	AutoCreate       bool     `yaml:"auto_create"`
	DefaultRetention Duration `yaml:"default_retention"`
	// MaxFragmentDuration cuts GOPs longer than this (1s to 30s: a
	// fragment must fit one Matroska cluster, ±32.767 s).
	MaxFragmentDuration Duration `yaml:"max_fragment_duration"`
	// Sources are streams Eddy pulls from cameras.
	Sources []SourceConfig `yaml:"sources"`
}

// SourceConfig is a stream pulled from an RTSP URL.
type SourceConfig struct {
	Stream string `yaml:"stream"`
	// URL is rtsp://[user:pass@]host[:port]/path.
	URL string `yaml:"url"`
	// OnDemand pulls only while someone watches; otherwise always.
	OnDemand bool `yaml:"on_demand"`
	// Retention of the stream when Eddy creates it (default: video.default_retention).
	Retention *Duration `yaml:"retention"`
	// RetentionBytes caps the stream's size on disk (default:
	// streams.retention_bytes); the oldest fragments go first.
	RetentionBytes Size `yaml:"retention_bytes"`
}

// StorageConfig tunes the shard core's logs.
type StorageConfig struct {
	// Sync is "always" (fsync before acknowledging, the default) or
	// "interval" (acknowledge after write; fsync every SyncInterval).
	Sync            string   `yaml:"sync"`
	SyncInterval    Duration `yaml:"sync_interval"`
	SegmentSize     Size     `yaml:"segment_size"`
	SegmentDuration Duration `yaml:"segment_duration"`
	JanitorInterval Duration `yaml:"janitor_interval"`
	// MinFree is the free-space floor of the data directory's filesystem
	// ("5%" or "10GB"; "0": off): below it the oldest data of all
	// streams is deleted, oldest first, before the disk is full.
	MinFree FreeSpace `yaml:"min_free"`
	// Object, when set, moves sealed log segments to an S3-compatible
	// bucket and reads them back through a local cache; nil: every byte
	// stays on local disk.
	Object *ObjectStorageConfig `yaml:"object"`
}

// ObjectStorageConfig is the bucket sealed segments tier to, and how
// long they stay local (storage.object).
type ObjectStorageConfig struct {
	// Endpoint is the store's URL (http://minio:9000); empty: AWS S3 of Region.
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	// Prefix is put before every key ("site-a/"), so that several Eddys
	// can share a bucket.
	Prefix string `yaml:"prefix"`
	Region string `yaml:"region"` // default us-east-1
	// AccessKeyID and SecretAccessKey (or SecretAccessKeyFile, a file
	// holding it) sign the requests.
	AccessKeyID         string `yaml:"access_key_id"`
	SecretAccessKey     string `yaml:"secret_access_key"`
	SecretAccessKeyFile string `yaml:"secret_access_key_file"`
	// PathStyle addresses http://host/bucket/key instead of
	// http://bucket.host/key (MinIO, versitygw, Ceph RGW want it).
	PathStyle bool `yaml:"path_style"`
	// Hot is how long sealed data stays on local disk once uploaded,
	// counted from its newest record (0s: deleted locally as soon as the
	// upload is verified); a stream's eddy:hot tag overrides it.
	Hot Duration `yaml:"hot"`
	// CacheSize bounds the local cache of cold reads (at least 64MB).
	CacheSize Size `yaml:"cache_size"`
	// QueueSize bounds the sealed bytes waiting for upload (0: only the
	// disk does); past it the oldest waiting data is dropped and counted
	// as lost.
	QueueSize Size `yaml:"queue_size"`
	// CacheDir holds the cache (default <data>/cache).
	CacheDir string `yaml:"cache_dir"`
}

// Object storage defaults, applied to a storage.object section the
// configuration has.
const (
	DefaultObjectHot       = Duration(24 * time.Hour)
	DefaultObjectCacheSize = Size(10e9)
	MinObjectCacheSize     = Size(64e6)
)

// UnmarshalYAML implements yaml.Unmarshaler: an object section starts
// from the defaults.
func (o *ObjectStorageConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain ObjectStorageConfig
	p := plain{Hot: DefaultObjectHot, CacheSize: DefaultObjectCacheSize}
	if *o != (ObjectStorageConfig{}) {
		p = plain(*o) // a later file (or a reload's base) over an earlier one
	}
	// Node.Decode does not inherit the file decoder's KnownFields: an
	// unknown key is refused here, as everywhere else.
	if n.Kind == yaml.MappingNode {
		known := map[string]bool{}
		t := reflect.TypeOf(p)
		for i := range t.NumField() {
			known[strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]] = true
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !known[k.Value] {
				return fmt.Errorf("line %d: field %s not found in storage.object", k.Line, k.Value)
			}
		}
	}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*o = ObjectStorageConfig(p)
	return nil
}

// CacheDirOf returns where the cache lives: CacheDir, or <data>/cache.
func (o *ObjectStorageConfig) CacheDirOf(data string) string {
	if o.CacheDir != "" {
		return o.CacheDir
	}
	return filepath.Join(data, "cache")
}

// LoadSecret returns the secret access key, read from its file when
// SecretAccessKeyFile is set (surrounding white space trimmed).
func (o *ObjectStorageConfig) LoadSecret() (string, error) {
	if o.SecretAccessKeyFile == "" {
		return o.SecretAccessKey, nil
	}
	b, err := os.ReadFile(o.SecretAccessKeyFile)
	if err != nil {
		return "", fmt.Errorf("storage.object.secret_access_key_file: %w", err)
	}
	sec := strings.TrimSpace(string(b))
	if sec == "" {
		return "", fmt.Errorf("storage.object.secret_access_key_file: %s is empty", o.SecretAccessKeyFile)
	}
	return sec, nil
}

// validate checks the section; the secret's value is never in a message.
func (o *ObjectStorageConfig) validate() []error {
	var errs []error
	if o.Bucket == "" {
		errs = append(errs, errors.New("storage.object.bucket: name the bucket sealed segments go to"))
	}
	if o.Endpoint != "" {
		if u, err := url.Parse(o.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// Not the value: it may hold credentials.
			errs = append(errs, errors.New("storage.object.endpoint: is not an http:// or https:// URL with a host and no user, like http://127.0.0.1:9000 (leave it empty for AWS S3)"))
		}
	}
	if strings.ContainsAny(o.Bucket, "/ \\") {
		errs = append(errs, fmt.Errorf("storage.object.bucket: %q: a bucket name has no slash or space (put a path in prefix)", o.Bucket))
	}
	switch {
	case o.AccessKeyID == "" && o.SecretAccessKey == "" && o.SecretAccessKeyFile == "":
		// No keys: the AWS SDK's default credentials (AWS_* variables,
		// ~/.aws, an instance or task role).
	case o.AccessKeyID == "":
		errs = append(errs, errors.New("storage.object.access_key_id: set the access key id that goes with the secret (or neither, for the AWS SDK's default credentials: environment, ~/.aws, instance role)"))
	case (o.SecretAccessKey == "") == (o.SecretAccessKeyFile == ""):
		errs = append(errs, errors.New("storage.object: set secret_access_key or secret_access_key_file, not both"))
	case o.SecretAccessKeyFile != "":
		if _, err := o.LoadSecret(); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Hot < 0 {
		errs = append(errs, fmt.Errorf("storage.object.hot: %s is negative; use 0s (local copies go once uploaded) or a duration such as 24h", o.Hot))
	}
	if o.CacheSize < MinObjectCacheSize {
		errs = append(errs, fmt.Errorf("storage.object.cache_size: %s is too small; use at least 64MB", o.CacheSize))
	}
	if o.QueueSize < 0 {
		errs = append(errs, errors.New("storage.object.queue_size: must not be negative (0: only the disk bounds the upload queue)"))
	}
	return errs
}

// StreamsConfig holds data-stream behaviour.
type StreamsConfig struct {
	// Throttle enforces per-shard limits on PROVISIONED streams.
	Throttle         bool    `yaml:"throttle"`
	WriteRecordsPerS float64 `yaml:"write_records_per_second"`
	WriteBytesPerS   Size    `yaml:"write_bytes_per_second"`
	ReadCallsPerS    float64 `yaml:"read_calls_per_second"`
	ReadBytesPerS    Size    `yaml:"read_bytes_per_second"`
	ShardLimit       int     `yaml:"shard_limit"`
	// RetentionBytes caps each stream's size on disk (0: no cap); the
	// oldest whole segments are deleted first, before their time is up.
	RetentionBytes Size `yaml:"retention_bytes"`
	// TransitionDelay keeps streams CREATING/UPDATING (and consumers
	// CREATING) this long before ACTIVE, as Kinesis does; 0 = at once.
	TransitionDelay Duration `yaml:"transition_delay"`
}

// DefaultConfig is the embedded default: local disk, loopback only.
func DefaultConfig() Config {
	return Config{
		Data:        "./eddy-data",
		HTTP:        "127.0.0.1:8080",
		RTSP:        "127.0.0.1:8554",
		WebRTC:      "127.0.0.1:8189",
		RTSPUDPRTP:  "127.0.0.1:8000",
		RTSPUDPRTCP: "127.0.0.1:8001",
		Region:      "us-east-1",
		AccountID:   "000000000000",
		LogLevel:    "info",
		Storage: StorageConfig{
			Sync:            "always",
			SyncInterval:    Duration(100 * time.Millisecond),
			SegmentSize:     64 << 20,
			SegmentDuration: Duration(time.Hour),
			JanitorInterval: Duration(time.Minute),
			MinFree:         FreeSpace{Percent: 5},
		},
		Streams: StreamsConfig{
			Throttle:         true,
			WriteRecordsPerS: 1000,
			WriteBytesPerS:   1 << 20,
			ReadCallsPerS:    5,
			ReadBytesPerS:    2 << 20,
			ShardLimit:       500,
		},
		Video: VideoConfig{
			AutoCreate:          true,
			DefaultRetention:    Duration(24 * time.Hour),
			MaxFragmentDuration: Duration(10 * time.Second),
		},
		HLS:   HLSConfig{PartDuration: Duration(200 * time.Millisecond)},
		RTSPS: "127.0.0.1:8322",
		Auth: AuthConfig{
			FailureLimit: 20,
			FailureDelay: Duration(time.Second),
			SessionTTL:   Duration(12 * time.Hour),
			MaxTokenTTL:  Duration(24 * time.Hour),
		},
		Limits: LimitsConfig{Connections: 4096, ConnectionsPerAddress: 256, HeaderBytes: 64 << 10,
			WriteTimeout: Duration(10 * time.Second), GetMediaSession: Duration(50 * time.Minute)},
		WebRTCOptions: WebRTCConfig{
			MaxSessions:      500,
			MaxPending:       64,
			HandshakeTimeout: Duration(10 * time.Second),
			KeyframeInterval: Duration(2 * time.Second),
		},
		Metrics: MetricsConfig{PerStream: true, PerStreamLimit: 1000},
	}
}

// LoadFile reads a YAML config file over c. Unknown keys are errors.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate checks fields and their combinations, saying what to change.
func (c *Config) Validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("data: set a directory for stream data"))
	}
	for name, addr := range map[string]string{"http": c.HTTP, "rtsp": c.RTSP, "webrtc": c.WebRTC} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port (%v)", name, addr, err))
		}
	}
	if (c.RTSPUDPRTP == "") != (c.RTSPUDPRTCP == "") {
		errs = append(errs, errors.New("rtsp_udp_rtp and rtsp_udp_rtcp: set both (an even port and the next one), or neither for TCP only"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key: set both, or neither"))
	}
	if s := c.Storage.Sync; s != "always" && s != "interval" {
		errs = append(errs, fmt.Errorf("storage.sync: %q is not \"always\" or \"interval\"", s))
	}
	if c.Storage.Sync == "interval" && c.Storage.SyncInterval <= 0 {
		errs = append(errs, errors.New("storage.sync_interval: must be positive when storage.sync is \"interval\""))
	}
	if c.Storage.SegmentSize < 1<<20 {
		errs = append(errs, fmt.Errorf("storage.segment_size: %s is too small; use at least 1MiB", c.Storage.SegmentSize))
	}
	if c.Storage.SegmentDuration < Duration(time.Minute) {
		errs = append(errs, errors.New("storage.segment_duration: use at least 1m"))
	}
	if f := c.Storage.MinFree; f.Bytes < 0 || f.Percent < 0 || f.Percent > maxMinFreePercent {
		errs = append(errs, fmt.Errorf("storage.min_free: %s: use a percentage from 0%% to %d%% or a size such as 10GB", f, maxMinFreePercent))
	}
	if c.Streams.ShardLimit < 1 {
		errs = append(errs, errors.New("streams.shard_limit: must be at least 1"))
	}
	for name, addr := range map[string]string{"http": c.HTTP, "rtsp": c.RTSP, "rtsps": c.RTSPS, "webrtc": c.WebRTC, "rtsp_udp_rtp": c.RTSPUDPRTP, "rtsp_udp_rtcp": c.RTSPUDPRTCP} {
		if addr != "" && len(c.Auth.Credentials) == 0 && !c.InsecureAllowNetwork && !isLoopback(addr) {
			errs = append(errs, fmt.Errorf("%s: %q is not a loopback address and no credentials are configured; configure auth.credentials, listen on 127.0.0.1, or set insecure_allow_network: true to expose Eddy without authentication", name, addr))
		}
	}
	errs = append(errs, c.Auth.validate()...)
	if c.Storage.Object != nil {
		errs = append(errs, c.Storage.Object.validate()...)
	}
	errs = append(errs, c.Metrics.validate()...)
	if c.Limits.Connections < 1 || c.Limits.ConnectionsPerAddress < 1 || c.Limits.ConnectionsPerAddress > c.Limits.Connections {
		errs = append(errs, errors.New("limits.connections and connections_per_address: at least 1 each, per address at most the total"))
	}
	if w := time.Duration(c.Limits.WriteTimeout); w < 100*time.Millisecond || w > 5*time.Minute {
		errs = append(errs, fmt.Errorf("limits.write_timeout: %s is outside 100ms to 5m", c.Limits.WriteTimeout))
	}
	if g := time.Duration(c.Limits.GetMediaSession); g < time.Second || g > 24*time.Hour {
		errs = append(errs, fmt.Errorf("limits.getmedia_session: %s is outside 1s to 24h", c.Limits.GetMediaSession))
	}
	if c.Limits.HeaderBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("limits.header_bytes: %s is too small for a signed request; use at least 4KiB", c.Limits.HeaderBytes))
	}
	if c.Video.MaxFragmentDuration < Duration(time.Second) || c.Video.MaxFragmentDuration > Duration(30*time.Second) {
		errs = append(errs, fmt.Errorf("video.max_fragment_duration: %s is outside 1s to 30s", c.Video.MaxFragmentDuration))
	}
	if p := time.Duration(c.HLS.PartDuration); p != 0 && (p < 50*time.Millisecond || p > time.Second) {
		errs = append(errs, fmt.Errorf("hls.part_duration: %s is outside 50ms to 1s (0 turns LL-HLS off)", c.HLS.PartDuration))
	}
	if r := time.Duration(c.Video.DefaultRetention); r < 0 || r > 87600*time.Hour || r%time.Hour != 0 {
		errs = append(errs, fmt.Errorf("video.default_retention: %s must be whole hours from 0 to 10y", c.Video.DefaultRetention))
	}
	seen := map[string]bool{}
	for i, src := range c.Video.Sources {
		u, err := url.Parse(src.URL)
		switch {
		case src.Stream == "" || seen[src.Stream]:
			errs = append(errs, fmt.Errorf("video.sources[%d].stream: %q is empty or repeated", i, src.Stream))
		case err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "":
			// Not the value: it may hold a password, and a refused
			// reload's message is logged and shown on the status page.
			errs = append(errs, fmt.Errorf("video.sources[%d].url: is not an rtsp:// or rtsps:// URL with a host, like rtsp://user:password@camera:554/path (the value is not shown: it may hold a password)", i))
		case src.Retention != nil && (time.Duration(*src.Retention)%time.Hour != 0 || *src.Retention < 0 || time.Duration(*src.Retention) > 87600*time.Hour):
			errs = append(errs, fmt.Errorf("video.sources[%d].retention: %s must be whole hours from 0 to 10y", i, *src.Retention))
		}
		seen[src.Stream] = true
	}
	w := c.WebRTCOptions
	if w.MaxSessions < 1 || w.MaxPending < 1 {
		errs = append(errs, errors.New("webrtc_options.max_sessions and max_pending: must be at least 1"))
	}
	if w.HandshakeTimeout < Duration(time.Second) {
		errs = append(errs, errors.New("webrtc_options.handshake_timeout: use at least 1s"))
	}
	if k := time.Duration(w.KeyframeInterval); k < 500*time.Millisecond || k > time.Duration(c.Video.MaxFragmentDuration) {
		errs = append(errs, fmt.Errorf("webrtc_options.keyframe_interval: %s is outside 500ms to video.max_fragment_duration", w.KeyframeInterval))
	}
	for i, is := range w.ICEServers {
		if len(is.URLs) == 0 {
			errs = append(errs, fmt.Errorf("webrtc_options.ice_servers[%d].urls: list at least one stun:, turn: or turns: URL", i))
		}
		for _, u := range is.URLs {
			if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
				errs = append(errs, fmt.Errorf("webrtc_options.ice_servers[%d].urls: %q is not a stun:, stuns:, turn: or turns: URL", i, u))
			}
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Duration is a time.Duration that also reads days (d), weeks (w) and
// years (y, 365 days): "30d", "10y", "1h30m".
type Duration time.Duration

// ParseDuration parses a Duration.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"y", 365 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("duration %q: want a number before %q", s, u.suffix)
			}
			return Duration(f * float64(u.d)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: use forms like 100ms, 90s, 1h, 30d, 10y", s)
	}
	return Duration(d), nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// Set implements flag.Value.
func (d *Duration) Set(s string) error {
	v, err := ParseDuration(s)
	if err == nil {
		*d = v
	}
	return err
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.Set(n.Value) }

// Size is a byte count that reads units: "500GB", "64MiB", "1048576".
type Size int64

var sizeUnits = []struct {
	suffix string
	n      float64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3}, {"B", 1},
}

// ParseSize parses a Size.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("size %q: want a number before %q", s, u.suffix)
			}
			return Size(f * u.n), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: use forms like 1048576, 64MiB, 500GB", s)
	}
	return Size(n), nil
}

// String writes the size in the largest unit, binary or decimal, that
// divides it exactly: 64MiB, 500GB, 1000.
func (s Size) String() string {
	largest := []int{0, 4, 1, 5, 2, 6, 3, 7} // TiB, TB, GiB, GB, MiB, MB, KiB, KB
	for _, i := range largest {
		u := sizeUnits[i]
		if s >= Size(u.n) && int64(s)%int64(u.n) == 0 {
			return fmt.Sprintf("%d%s", int64(s)/int64(u.n), u.suffix)
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Set implements flag.Value.
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err == nil {
		*s = n
	}
	return err
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error { return s.Set(n.Value) }

// validate checks the auth section's fields; the identities themselves
// are checked when they are built (awsauth.NewCredentials).
func (a *AuthConfig) validate() []error {
	var errs []error
	for i, cr := range a.Credentials {
		if (cr.SecretAccessKey == "") == (cr.SecretAccessKeyFile == "") {
			errs = append(errs, fmt.Errorf("auth.credentials[%d] (%s): set secret_access_key or secret_access_key_file, not both", i, cr.AccessKeyID))
		}
	}
	if a.MetricsToken != "" && a.MetricsTokenFile != "" {
		errs = append(errs, errors.New("auth.metrics_token and metrics_token_file: set one, not both"))
	}
	if a.FailureLimit < 0 || a.FailureDelay < 0 {
		errs = append(errs, errors.New("auth.failure_limit and failure_delay: must not be negative"))
	}
	if a.SessionTTL < Duration(time.Minute) || a.MaxTokenTTL < Duration(time.Minute) {
		errs = append(errs, errors.New("auth.session_ttl and max_token_ttl: use at least 1m"))
	}
	return errs
}
