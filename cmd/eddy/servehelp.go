package main

import (
	"flag"
	"fmt"
	"reflect"
	"strings"

	"github.com/eddy-video/eddy/cmd/eddy/internal/usage"
	"github.com/eddy-video/eddy/server"
)

const serveSummary = `Runs the Eddy server until SIGINT or SIGTERM: the Kinesis Data Streams and Kinesis Video APIs,
HLS, the web UI, /metrics and /healthz on --http; RTSP (and RTSPS with --tls-cert) to publish and
watch; WebRTC (WHIP, WHEP) on --webrtc. SIGHUP, or an edit of the configuration file, reloads the
configuration.

Settings come from, lowest precedence first: built-in defaults, the YAML file (--config or
EDDY_CONFIG), EDDY_* environment variables, and flags. Each flag below names its YAML key and
its variable. Durations read 100ms, 90s, 1h, 30d, 10y; sizes 1048576, 64MiB, 500GB.`

// serveUsage prints eddy serve's help: the flags with their YAML keys
// and variables, then the settings only the YAML file has. Both come
// from server.Config by reflection, so neither goes stale when a
// setting is added.
func serveUsage(fs *flag.FlagSet, cfg *server.Config) {
	all := configSettings(cfg)
	keys := flagKeys(fs, all)
	usage.Print(fs, "[flags]", serveSummary, func(f *flag.Flag) []string {
		if key, ok := keys[f.Name]; ok {
			return []string{"YAML: " + key + "    environment: " + envVar(f.Name)}
		}
		return []string{"environment: " + envVar(f.Name)}
	})
	w := fs.Output()
	fmt.Fprintln(w, "\nsettings only in the YAML file, with their defaults (README, \"Configuration\", says more):")
	flagged := map[string]bool{}
	for _, k := range keys {
		flagged[k] = true
	}
	for _, s := range all {
		if !flagged[s.key] {
			fmt.Fprintf(w, "  %s: %s\n", s.key, describeSetting(s.field))
			if doc := yamlOnlyDocs[s.key]; doc != "" {
				fmt.Fprintf(w, "        %s\n", doc)
			}
		}
	}
}

// yamlOnlyDocs says in a line what each YAML-only setting does (README,
// "Configuration", says more). A test fails when a setting of
// server.Config has no line here, or a line names no YAML-only setting.
var yamlOnlyDocs = map[string]string{
	"account_id":                       "account in ARNs and messages",
	"auth.credentials":                 "identities; with any, every request on every listener must authenticate",
	"auth.metrics_token":               "bearer token Prometheus scrapes /metrics with",
	"auth.metrics_token_file":          "file holding that token",
	"auth.failure_limit":               "failed authentications a minute from one address before further ones wait",
	"auth.failure_delay":               "how long those further failures wait for their answer",
	"auth.session_ttl":                 "how long a web UI login lasts",
	"auth.max_token_ttl":               "longest lifetime a bearer token (eddy token) may ask for",
	"limits.connections":               "open connections per listener (HTTP, RTSP, RTSPS)",
	"limits.connections_per_address":   "open connections per listener from one IP address",
	"limits.header_bytes":              "largest HTTP request header",
	"limits.write_timeout":             "longest a write to a reader may take before it is cut",
	"limits.getmedia_session":          "longest GetMedia session (the consumer resumes with its continuation token)",
	"storage.segment_size":             "segment roll size",
	"storage.segment_duration":         "segment roll age",
	"storage.janitor_interval":         "how often retention runs",
	"storage.object":                   "S3-compatible bucket sealed segments move to (hot 24h, cache_size 10GB, queue_size 0, cache_dir <data>/cache)",
	"streams.write_records_per_second": "per-shard write limit (with throttle)",
	"streams.write_bytes_per_second":   "per-shard write limit (with throttle)",
	"streams.read_calls_per_second":    "per-shard read limit (with throttle)",
	"streams.read_bytes_per_second":    "per-shard read limit (with throttle)",
	"streams.shard_limit":              "open shards across all streams",
	"streams.retention_bytes":          "cap on each stream's size on disk, oldest data first (0: none)",
	"video.auto_create":                "a publish to an unknown stream creates it (off: 404)",
	"video.default_retention":          "retention of streams created by publishing",
	"video.max_fragment_duration":      "longest fragment; longer GOPs are cut",
	"video.sources":                    "cameras Eddy pulls over RTSP",
	"webrtc_options.ice_servers":       "STUN/TURN servers for WebRTC clients and Eddy's relay candidates",
	"webrtc_options.max_sessions":      "WHEP and WHIP sessions at once",
	"webrtc_options.max_pending":       "WHEP and WHIP sessions still connecting",
	"webrtc_options.handshake_timeout": "a session not connected by then is closed",
	"webrtc_options.keyframe_interval": "how often WHIP publishers are asked for a keyframe",
	"metrics.per_stream":               "a stream label of its own for each stream (false: all aggregated)",
	"metrics.per_stream_limit":         "streams labelled on their own; the others aggregated",
	"images.ffmpeg":                    "the ffmpeg program of GetImages and thumbnails (empty: ffmpeg)",
	"images.workers":                   "ffmpeg processes at once (0: one per CPU)",
	"images.thumbnail_cache":           "bytes of thumbnails cached (0: 64MiB)",
}

// setting is one key of the YAML file and the field of Config it sets.
type setting struct {
	key   string // YAML path: storage.sync_interval
	field reflect.Value
}

// configSettings lists every setting of cfg in the order of its fields:
// nested sections are walked, a list (video.sources) is one setting.
func configSettings(cfg *server.Config) []setting {
	return walkSettings(reflect.ValueOf(cfg).Elem(), "")
}

func walkSettings(v reflect.Value, prefix string) []setting {
	var out []setting
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && !isScalar(fv) {
			out = append(out, walkSettings(fv, prefix+key+".")...)
			continue
		}
		out = append(out, setting{key: prefix + key, field: fv})
	}
	return out
}

// isScalar says whether a struct-typed setting is written as one value
// (FreeSpace: "5%" or "10GB").
func isScalar(v reflect.Value) bool {
	_, ok := v.Addr().Interface().(flag.Value)
	return ok
}

// flagKeys maps each flag of fs that sets a field of settings to that
// setting's key: the flag's value points at the field.
func flagKeys(fs *flag.FlagSet, settings []setting) map[string]string {
	keys := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		p := reflect.ValueOf(f.Value)
		if p.Kind() != reflect.Pointer {
			return
		}
		for _, s := range settings {
			if s.field.Addr().Pointer() == p.Pointer() && s.field.Kind() == p.Elem().Kind() {
				keys[f.Name] = s.key
				return
			}
		}
	})
	return keys
}

// describeSetting is a setting's default as the YAML file would write
// it, or the shape of a list's items.
func describeSetting(v reflect.Value) string {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct {
		return "a list of " + itemShape(v.Type().Elem()) + " (none)"
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		if v.Type().Elem().Kind() == reflect.Struct {
			return "a section " + itemShape(v.Type().Elem()) + " (none)"
		}
		return "none"
	}
	if d, ok := v.Interface().(server.Duration); ok {
		return shortDuration(d.String())
	}
	if s, ok := v.Addr().Interface().(fmt.Stringer); ok {
		return orNone(s.String())
	}
	if v.Kind() == reflect.Slice {
		if v.Len() == 0 {
			return "none"
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return orNone(fmt.Sprint(v.Interface()))
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// itemShape is "{key, key, list: [{...}]}" for a list's item type.
func itemShape(t reflect.Type) string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			key += ": [" + itemShape(f.Type.Elem()) + "]"
		}
		keys = append(keys, key)
	}
	return "{" + strings.Join(keys, ", ") + "}"
}

// shortDuration drops a duration's zero minutes and seconds, as the
// YAML file would write it: 12h0m0s is 12h, 1m0s is 1m.
func shortDuration(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
