package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	kvamtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideoarchivedmedia/types"
)

// soakFaults are faults the tests inject at the soak's own seams, to show
// that its checks catch what they are for. The zero value injects none.
type soakFaults struct {
	// dropFragment removes one fragment from the middle of the first
	// camera's listing before it is checked: a fragment lost in the archive.
	dropFragment bool
	// dropFrame makes the first WHEP viewer treat the dropFrame-th frame
	// it receives as never received: a frame lost on the way.
	dropFrame int64
	// failSegment makes the HLS readers' HTTP client answer their first
	// segment request itself, with a 500.
	failSegment bool
	// fakeAck makes the KDS producer's HTTP client change a sequence
	// number in the first PutRecords answer: a record acknowledged that
	// no consumer can read back.
	fakeAck bool
}

// dropListed applies dropFragment to the camera listings.
func (f soakFaults) dropListed(lists map[string][]kvamtypes.Fragment, first string) {
	if l := lists[first]; f.dropFragment && len(l) >= 3 {
		lists[first] = append(l[:len(l)/2:len(l)/2], l[len(l)/2+1:]...)
	}
}

// onceTransport hands the first request that match accepts to do, and
// every other request to base.
type onceTransport struct {
	base  http.RoundTripper
	match func(*http.Request) bool
	do    func(base http.RoundTripper, r *http.Request) (*http.Response, error)
	fired atomic.Bool
}

func (t *onceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.match(r) && t.fired.CompareAndSwap(false, true) {
		return t.do(t.base, r)
	}
	return t.base.RoundTrip(r)
}

// failSegmentTransport answers the first HLS media segment request with
// a 500 of its own.
func failSegmentTransport(base http.RoundTripper) http.RoundTripper {
	return &onceTransport{
		base:  base,
		match: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/getMP4MediaFragment.mp4") },
		do: func(_ http.RoundTripper, r *http.Request) (*http.Response, error) {
			body := "fault injected by the bench"
			return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
				Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
		},
	}
}

// fakeAckTransport appends a digit to the first record's SequenceNumber
// in the first PutRecords answer.
func fakeAckTransport(base http.RoundTripper) http.RoundTripper {
	return &onceTransport{
		base:  base,
		match: func(r *http.Request) bool { return r.Header.Get("X-Amz-Target") == "Kinesis_20131202.PutRecords" },
		do: func(base http.RoundTripper, r *http.Request) (*http.Response, error) {
			resp, err := base.RoundTrip(r)
			if err != nil || resp.StatusCode != http.StatusOK {
				return resp, err
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				return nil, err
			}
			var out map[string]any
			d := json.NewDecoder(bytes.NewReader(b))
			d.UseNumber()
			if d.Decode(&out) == nil {
				if recs, _ := out["Records"].([]any); len(recs) > 0 {
					if rec, _ := recs[0].(map[string]any); rec != nil {
						if seq, ok := rec["SequenceNumber"].(string); ok {
							rec["SequenceNumber"] = seq + "0"
							b, _ = json.Marshal(out)
						}
					}
				}
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return resp, nil
		},
	}
}
