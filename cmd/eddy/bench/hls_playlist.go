package bench

import (
	"bufio"
	"bytes"
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

// parseHLSMediaPlaylist parses a media playlist fetched from base.
func parseHLSMediaPlaylist(base *url.URL, body []byte) (*hlsPlaylist, error) {
	pl := &hlsPlaylist{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	var dur time.Duration
	var pdt int64
	haveInf := false
	var parts []hlsPart
	resolve := func(ref string) string {
		r, err := url.Parse(ref)
		if err != nil {
			return ref
		}
		return base.ResolveReference(r).String()
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
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
			p := hlsPart{dur: time.Duration(f * float64(time.Second)), uri: resolve(uri), independent: tagAttr(line, "INDEPENDENT") == "YES"}
			if u, err := url.Parse(uri); err == nil {
				p.number, _ = strconv.ParseUint(u.Query().Get("PartNumber"), 10, 64)
			}
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
	return pl, sc.Err()
}
