package kdsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// decodePutRecordsJSON decodes a PutRecords request body into in. The result
// is what json.Unmarshal(b, in) gives for a zero *in: the same values, nil
// exactly where it leaves nil, and an error exactly when it errors. Nothing
// in the result refers to b.
//
// It exists because PutRecords is the hot path: decoding its bodies (up to
// 500 records of base64 Data) with json.Unmarshal cost about a fifth of the
// server's CPU. json.Unmarshal scans the body twice, goes through reflection
// for every field, copies each Data string before base64-decoding it and
// allocates per record and per string. This decoder reads the JSON grammar of
// RFC 8259 (objects, arrays, strings, numbers, literals, whitespace) in one
// pass, decodes every Data straight from the body into one shared buffer and
// copies all the string fields into one string.
//
// It only takes bodies it is certain about. Anything else goes to
// json.Unmarshal, which then gives its own result and error: an escape or a
// non-ASCII byte in a string that is kept, a key that encoding/json would
// match case-insensitively, a repeated key, a value of the wrong type, bad
// base64, deep nesting, any syntax error. FuzzDecodePutRecordsJSON
// differentially fuzzes this function against encoding/json.
func decodePutRecordsJSON(b []byte, in *putRecordsIn) error {
	if decodePutRecordsFast(b, in) {
		return nil
	}
	*in = putRecordsIn{}
	return json.Unmarshal(b, in)
}

// decodePutRecordsFast decodes b into in and reports true, or reports false
// and leaves in alone if b needs json.Unmarshal.
func decodePutRecordsFast(b []byte, in *putRecordsIn) bool {
	d := putRecordsDecoder{b: b}
	if !d.body() {
		return false
	}
	d.finish(in)
	return true
}

// jsonSpan is a string value's bytes, b[start:end]; !set means null or absent.
type jsonSpan struct {
	start, end int
	set        bool
}

type putRecordsDecoder struct {
	b []byte
	i int // next byte to read

	name, arn jsonSpan
	records   []putRecordsEntry // Data set; the string pointers are set by finish
	keys      []jsonSpan        // PartitionKey and ExplicitHashKey of records[k] at 2k, 2k+1
	data      []byte            // backing array of every Data, made at the first one
	used      int               // bytes of data used
}

// maxSkipDepth bounds the nesting of unknown values read here; deeper ones go
// to encoding/json, which has its own limit (10000).
const maxSkipDepth = 32

// body reads the whole input: one object, whitespace around it.
func (d *putRecordsDecoder) body() bool {
	if !d.eat('{') {
		return false
	}
	if !d.eat('}') {
		var seen uint8
		for {
			key, ok := d.key()
			if !ok {
				return false
			}
			switch string(key) {
			case "StreamName":
				ok = first(&seen, 1) && d.optString(&d.name)
			case "StreamARN":
				ok = first(&seen, 2) && d.optString(&d.arn)
			case "Records":
				ok = first(&seen, 4) && d.recordList()
			default:
				ok = !foldsTo(key, "StreamName", "StreamARN", "Records") && d.skip(1)
			}
			if !ok {
				return false
			}
			if d.eat(',') {
				continue
			}
			if !d.eat('}') {
				return false
			}
			break
		}
	}
	d.ws()
	return d.i == len(d.b)
}

// recordList reads the value of Records: null or an array.
func (d *putRecordsDecoder) recordList() bool {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '[':
		d.i++
	default:
		return false
	}
	// A capacity hint: there is usually one '{' per record, and one more.
	// Getting it wrong costs a regrowth or some unused capacity.
	n := min(bytes.Count(d.b, []byte{'{'}), maxPutRecords)
	d.records = make([]putRecordsEntry, 0, n) // non-nil even if empty, like encoding/json
	d.keys = make([]jsonSpan, 0, 2*n)
	if d.eat(']') {
		return true
	}
	for {
		if !d.record() {
			return false
		}
		if d.eat(',') {
			continue
		}
		return d.eat(']')
	}
}

// record reads one element of Records: null (a zero record, as in
// encoding/json) or an object.
func (d *putRecordsDecoder) record() bool {
	var r putRecordsEntry
	var pk, ehk jsonSpan
	switch d.peek() {
	case 'n':
		if !d.literal("null") {
			return false
		}
	case '{':
		d.i++
		if d.eat('}') {
			break
		}
		var seen uint8
		for {
			key, ok := d.key()
			if !ok {
				return false
			}
			switch string(key) {
			case "Data":
				ok = first(&seen, 1) && d.blob(&r.Data)
			case "PartitionKey":
				ok = first(&seen, 2) && d.optString(&pk)
			case "ExplicitHashKey":
				ok = first(&seen, 4) && d.optString(&ehk)
			default:
				ok = !foldsTo(key, "Data", "PartitionKey", "ExplicitHashKey") && d.skip(3)
			}
			if !ok {
				return false
			}
			if d.eat(',') {
				continue
			}
			if !d.eat('}') {
				return false
			}
			break
		}
	default:
		return false
	}
	d.records = append(d.records, r)
	d.keys = append(d.keys, pk, ehk)
	return true
}

// blob reads a Data value, null or a base64 string, decoding it into d.data.
func (d *putRecordsDecoder) blob(dst *[]byte) bool {
	switch d.peek() {
	case 'n':
		return d.literal("null")
	case '"':
		d.i++
	default:
		return false
	}
	n := bytes.IndexByte(d.b[d.i:], '"')
	if n < 0 {
		return false
	}
	src := d.b[d.i : d.i+n]
	if d.data == nil {
		// Every Data string is inside b, so this is room for all of them.
		d.data = make([]byte, base64.StdEncoding.DecodedLen(len(d.b)))
	}
	out := d.data[d.used:]
	m, err := base64.StdEncoding.Decode(out, src)
	// The base64 decoder rejects every byte that JSON forbids in a string,
	// and the backslash of any escape, except CR and LF, which it skips.
	// Without those, it decodes every byte of src: 4 bytes to 3, less 1 per
	// '=' at the end. Skipped bytes make m smaller.
	pad := 0
	for k := len(src) - 1; k >= len(src)-2 && k >= 0 && src[k] == '='; k-- {
		pad++
	}
	if err != nil || len(src)%4 != 0 || m != len(src)/4*3-pad {
		return false
	}
	d.used += m
	d.i += n + 1
	*dst = out[:m:m] // full slice: appending to one Data must not overwrite the next
	return true
}

// optString reads null or a string of printable ASCII without escapes.
func (d *putRecordsDecoder) optString(s *jsonSpan) bool {
	if d.peek() == 'n' {
		return d.literal("null")
	}
	var ok bool
	*s, ok = d.plainString()
	return ok
}

// plainString reads a string of printable ASCII without escapes, which is
// the same bytes encoded and decoded.
func (d *putRecordsDecoder) plainString() (jsonSpan, bool) {
	if !d.eat('"') {
		return jsonSpan{}, false
	}
	for i := d.i; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			s := jsonSpan{start: d.i, end: i, set: true}
			d.i = i + 1
			return s, true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return jsonSpan{}, false
		}
	}
	return jsonSpan{}, false
}

// key reads an object key and the colon after it.
func (d *putRecordsDecoder) key() ([]byte, bool) {
	s, ok := d.plainString()
	if !ok || !d.eat(':') {
		return nil, false
	}
	return d.b[s.start:s.end], true
}

// skip reads any value, nested depth deep, checking its syntax.
func (d *putRecordsDecoder) skip(depth int) bool {
	switch c := d.peek(); {
	case c == '{':
		d.i++
		if depth >= maxSkipDepth {
			return false
		}
		if d.eat('}') {
			return true
		}
		for {
			d.ws()
			if !d.skipString() || !d.eat(':') || !d.skip(depth+1) {
				return false
			}
			if !d.eat(',') {
				return d.eat('}')
			}
		}
	case c == '[':
		d.i++
		if depth >= maxSkipDepth {
			return false
		}
		if d.eat(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if !d.eat(',') {
				return d.eat(']')
			}
		}
	case c == '"':
		return d.skipString()
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	}
	return false
}

// skipString reads any string. encoding/json checks no more than this when it
// skips one: its escapes, and no control characters (it does not check UTF-8).
func (d *putRecordsDecoder) skipString() bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	for i := d.i + 1; i < len(d.b); i++ {
		switch c := d.b[i]; {
		case c == '"':
			d.i = i + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if i++; i >= len(d.b) {
				return false
			}
			switch d.b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(d.b) {
					return false
				}
				for _, h := range d.b[i+1 : i+5] {
					if !isHexDigit(h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return false
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *putRecordsDecoder) number() bool {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	d.i = i
	return true
}

// digits returns the index of the first non-digit at or after i.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// literal reads s (true, false or null).
func (d *putRecordsDecoder) literal(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

// ws skips whitespace (RFC 8259 section 2: space, tab, LF, CR).
func (d *putRecordsDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (d *putRecordsDecoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// eat skips whitespace and then c, if c is next.
func (d *putRecordsDecoder) eat(c byte) bool {
	if d.peek() == c {
		d.i++
		return true
	}
	return false
}

// first marks bit in seen and reports whether it was clear: a repeated key
// goes to encoding/json (where the last one wins, merging into the first).
func first(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// foldsTo reports whether the ASCII key equals one of names ignoring ASCII
// case: encoding/json would decode it into that field.
func foldsTo(key []byte, names ...string) bool {
	for _, name := range names {
		if len(key) != len(name) {
			continue
		}
		i := 0
		for i < len(key) && lower(key[i]) == lower(name[i]) {
			i++
		}
		if i == len(key) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// finish copies the string fields into one string and fills in.
func (d *putRecordsDecoder) finish(in *putRecordsIn) {
	n, size := 0, 0
	d.eachString(func(s jsonSpan) { n, size = n+1, size+s.end-s.start })
	var sb strings.Builder
	sb.Grow(size)
	d.eachString(func(s jsonSpan) { sb.Write(d.b[s.start:s.end]) })
	text := sb.String()
	strs := make([]string, n) // the targets of all the *string fields
	k := 0
	str := func(s jsonSpan) *string {
		if !s.set {
			return nil
		}
		strs[k], text = text[:s.end-s.start], text[s.end-s.start:]
		k++
		return &strs[k-1]
	}
	// In the order of eachString.
	*in = putRecordsIn{}
	in.StreamName = str(d.name)
	in.StreamARN = str(d.arn)
	for j := range d.records {
		d.records[j].PartitionKey = str(d.keys[2*j])
		d.records[j].ExplicitHashKey = str(d.keys[2*j+1])
	}
	in.Records = d.records
}

// eachString calls f with every string field that is set, in a fixed order.
func (d *putRecordsDecoder) eachString(f func(jsonSpan)) {
	for _, s := range [2]jsonSpan{d.name, d.arn} {
		if s.set {
			f(s)
		}
	}
	for _, s := range d.keys {
		if s.set {
			f(s)
		}
	}
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
