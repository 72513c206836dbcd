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
	fmt.Fprintln(w, "\nsettings only in the YAML file, with their defaults (README, \"Configuration\", says what each does):")
	flagged := map[string]bool{}
	for _, k := range keys {
		flagged[k] = true
	}
	for _, s := range all {
		if !flagged[s.key] {
			fmt.Fprintf(w, "  %s: %s\n", s.key, describeSetting(s.field))
		}
	}
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
