package kdsapi

import (
	"encoding/json"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// The Kinesis JSON 1.1 protocol and its CBOR variant (the Java SDK's and
// KCL's default) carry the same shapes; a request is answered in the
// format it was made in. Blobs are base64 strings in JSON and byte strings
// in CBOR; timestamps are epoch seconds (JSON numbers with a millisecond
// fraction) in JSON and epoch milliseconds (CBOR tag 1) in CBOR.

type codec int

const (
	codecJSON codec = iota
	codecCBOR
)

const (
	contentTypeJSON = "application/x-amz-json-1.1"
	contentTypeCBOR = "application/x-amz-cbor-1.1"
)

func codecFor(contentType string) (codec, bool) {
	ct, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(strings.ToLower(ct)) {
	case contentTypeJSON, "application/json", "":
		return codecJSON, true
	case contentTypeCBOR:
		return codecCBOR, true
	}
	return codecJSON, false
}

func (c codec) contentType() string {
	if c == codecCBOR {
		return contentTypeCBOR
	}
	return contentTypeJSON
}

var (
	cborDec, _ = cbor.DecOptions{
		MaxNestedLevels:  16,
		MaxArrayElements: 10000,
		MaxMapPairs:      1000,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed,
	}.DecMode()
	cborEnc, _ = cbor.EncOptions{}.EncMode()
)

func (c codec) decode(b []byte, v any) error {
	if c == codecCBOR {
		return cborDec.Unmarshal(b, v)
	}
	if in, ok := v.(*putRecordsIn); ok {
		return decodePutRecordsJSON(b, in) // the hot path; same results as json.Unmarshal
	}
	return json.Unmarshal(b, v)
}

func (c codec) encode(v any) ([]byte, error) {
	if c == codecCBOR {
		if f, ok := v.(recordsFromLog); ok {
			f.fillRecords()
		}
		return cborEnc.Marshal(v)
	}
	if fast, ok := v.(jsonAppender); ok {
		return fast.appendJSON(make([]byte, 0, fast.jsonSizeHint())), nil
	}
	return json.Marshal(v)
}

// recordsFromLog is a response whose Records the hand-written JSON encoder
// writes straight from the log (logRecords); CBOR needs them filled in.
type recordsFromLog interface{ fillRecords() }

func (o *getRecordsOut) fillRecords() {
	if o.log != nil {
		o.Records, o.log = o.log.toRecords(), nil
	}
}

func (e *subscribeEvent) fillRecords() {
	if e.log != nil {
		e.Records, e.log = e.log.toRecords(), nil
	}
}
