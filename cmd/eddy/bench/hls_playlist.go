package bench

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// hlsPath is u without its query (the session token), for messages.
func hlsPath(u string) string {
	p, _, _ := strings.Cut(u, "?")
	return p
}

// hlsPlaylist is what the bench reads of a media playlist (RFC 8216 §4.3).
type hlsPlaylist struct {
	target  time.Duration // #EXT-X-TARGETDURATION
	seq     uint64        // #EXT-X-MEDIA-SEQUENCE
	initURI string        // the last #EXT-X-MAP URI
	segs    []hlsSegment

	// LL-HLS (RFC 8216bis): the parts of the segment in progress, its
	// program date-time, and the preload hint.
	partTarget time.Duration
	open       []hlsPart
	openPDT    int64
	openInit   string
	hint       string
}

// hlsPart is one #EXT-X-PART.
type hlsPart struct {
	number      uint64 // Eddy's PartNumber (increasing)
	dur         time.Duration
	uri         string
	independent bool
}

// next is the (msn, part) of the first part this playlist does not list:
// what a blocking reload asks for.
func (pl *hlsPlaylist) next() (uint64, int) {
	return pl.seq + uint64(len(pl.segs)), len(pl.open)
}

// tagAttr returns attribute name of an attribute-list tag line.
func tagAttr(line, name string) string {
	i := strings.Index(line, name+"=")
	for i > 0 && line[i-1] != ',' && line[i-1] != ':' {
		j := strings.Index(line[i+1:], name+"=")
		if j < 0 {
			return ""
		}
		i += 1 + j
	}
	if i < 0 {
		return ""
	}
	v := line[i+len(name)+1:]
	if strings.HasPrefix(v, `"`) {
		v, _, _ = strings.Cut(v[1:], `"`)
		return v
	}
	v, _, _ = strings.Cut(v, ",")
	return v
}

type hlsSegment struct {
	parts   []hlsPart
	seq     uint64 // media sequence number
	dur     time.Duration
	uri     string // absolute
	initURI string
	pdt     int64 // #EXT-X-PROGRAM-DATE-TIME, Unix ns; 0 = none
	number  string
}

// resolver resolves a playlist's URIs against its URL as
// url.ResolveReference does, with a fast path for the server's own (a
// file name and a query) that neither parses nor allocates more than the
// result: 200 LL readers parse a playlist of ~30 parts five times a
// second, in the process whose part watcher measures the listing latency.
type resolver struct {
	base *url.URL
	dir  string // base up to its path's last '/'; "" = no fast path
}

func newResolver(base *url.URL) resolver {
	// The library's own resolution of a plain name gives the prefix.
	d := base.ResolveReference(&url.URL{Path: "x"}).String()
	dir, ok := strings.CutSuffix(d, "x")
	if !ok {
		dir = ""
	}
	return resolver{base: base, dir: dir}
}

// plainRef reports whether ref is a file name (letters, digits, '.', '-',
// '_', not "." or "..") with an optional query and no fragment.
func plainRef(ref string) bool {
	name, query, _ := strings.Cut(ref, "?")
	if name == "" || name == "." || name == ".." || strings.ContainsAny(query, "#") {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}' {
			return false // url.Parse would refuse it or String would escape it
		}
	}
	return true
}

func (r resolver) resolve(ref string) string {
	if r.dir != "" && plainRef(ref) {
		return r.dir + ref
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return r.base.ResolveReference(u).String()
}

// queryUint returns the decimal value of query parameter name in ref as
// url.Parse(ref).Query().Get(name) would, without parsing when ref is a
// plain one (the server writes PartNumber unescaped).
func queryUint(ref, name string) uint64 {
	if plainRef(ref) {
		_, query, _ := strings.Cut(ref, "?")
		fast := true
		for query != "" && fast {
			var kv string
			kv, query, _ = strings.Cut(query, "&")
			k, v, _ := strings.Cut(kv, "=")
			switch {
			case strings.ContainsAny(k, "%;"):
				fast = false // an escaped key could be name; a ';' pair is skipped
			case k == name && !strings.ContainsAny(v, "%;"):
				n, _ := strconv.ParseUint(v, 10, 64)
				return n
			case k == name:
				fast = false
			}
		}
		if fast {
			return 0
		}
	}
	u, err := url.Parse(ref)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(u.Query().Get(name), 10, 64)
	return n
}

// parseHLSMediaPlaylist parses a media playlist fetched from base.
func parseHLSMediaPlaylist(base *url.URL, body []byte) (*hlsPlaylist, error) {
	pl := &hlsPlaylist{}
	first := true
	var dur time.Duration
	var pdt int64
	haveInf := false
	var parts []hlsPart
	resolve := newResolver(base).resolve
	rest := string(body)
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSpace(line)
		if first {
			if line != "#EXTM3U" {
				return nil, errors.New("not a playlist (no #EXTM3U)")
			}
			first = false
			continue
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "#EXT-X-TARGETDURATION:"):
			v, err := strconv.Atoi(strings.TrimPrefix(line, "#EXT-X-TARGETDURATION:"))
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pl.target = time.Duration(v) * time.Second
		case strings.HasPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"):
			v, err := strconv.ParseUint(strings.TrimPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pl.seq = v
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			_, rest, _ := strings.Cut(line, `URI="`)
			uri, _, _ := strings.Cut(rest, `"`)
			pl.initURI = resolve(uri)
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pdt = t.UnixNano()
		case strings.HasPrefix(line, "#EXT-X-PART-INF:"):
			f, err := strconv.ParseFloat(tagAttr(line, "PART-TARGET"), 64)
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			pl.partTarget = time.Duration(f * float64(time.Second))
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			f, err := strconv.ParseFloat(tagAttr(line, "DURATION"), 64)
			uri := tagAttr(line, "URI")
			if err != nil || uri == "" {
				return nil, fmt.Errorf("bad %q", line)
			}
			p := hlsPart{dur: time.Duration(f * float64(time.Second)), uri: resolve(uri), independent: tagAttr(line, "INDEPENDENT") == "YES",
				number: queryUint(uri, "PartNumber")}
			parts = append(parts, p)
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			pl.hint = resolve(tagAttr(line, "URI"))
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("bad %q", line)
			}
			dur, haveInf = time.Duration(f*float64(time.Second)), true
		case line[0] == '#':
		default:
			if !haveInf {
				return nil, fmt.Errorf("segment %q without #EXTINF", hlsPath(line))
			}
			s := hlsSegment{seq: pl.seq + uint64(len(pl.segs)), dur: dur, uri: resolve(line), initURI: pl.initURI, pdt: pdt, parts: parts}
			if u, err := url.Parse(line); err == nil {
				s.number = u.Query().Get("FragmentNumber")
			}
			pl.segs = append(pl.segs, s)
			dur, pdt, haveInf, parts = 0, 0, false, nil
		}
	}
	if first {
		return nil, errors.New("empty playlist")
	}
	pl.open, pl.openPDT, pl.openInit = parts, pdt, pl.initURI
	return pl, nil
}
