package kvsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eddy-video/eddy/fragments/images"
	"github.com/eddy-video/eddy/fragments/kvsapi"
	"github.com/eddy-video/eddy/media/mediatest"
)

// postImages posts a GetImages body and returns the status, the error
// type header and the body.
func postImages(t *testing.T, url, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url+"/getImages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), b
}

// TestImagesBusy: with every page slot taken, a GetImages request waits
// the Service's PageWait, then is answered ClientLimitExceededException;
// once a slot is free it is served, its answer (streamed, not one JSON
// value) being the images and the NextToken.
func TestImagesBusy(t *testing.T) {
	mediatest.RequireTool(t, "ffmpeg")
	svc := images.New(images.Options{Pages: 1, PageWait: 200 * time.Millisecond})
	e := newGMEnv(t, func(a *kvsapi.API) { a.Images = svc })
	at := time.Now().Add(-time.Hour).Unix() // before any fragment: NO_MEDIA
	body := fmt.Sprintf(`{"StreamName":"cam","ImageSelectorType":"PRODUCER_TIMESTAMP","StartTimestamp":%d,"EndTimestamp":%d,"SamplingInterval":1000,"Format":"JPEG","MaxResults":2}`, at, at+2)

	release, err := svc.Admit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	status, typ, b := postImages(t, e.url, body)
	if status != http.StatusBadRequest || typ != kvsapi.CodeClientLimit || time.Since(begin) < 200*time.Millisecond {
		t.Fatalf("busy, after %v: %d %s %s; want 400 %s after the wait", time.Since(begin), status, typ, b, kvsapi.CodeClientLimit)
	}
	release()

	status, _, b = postImages(t, e.url, body)
	var out struct {
		Images []struct {
			TimeStamp    float64
			Error        string
			ImageContent *string
		}
		NextToken *string
	}
	if err := json.Unmarshal(b, &out); status != http.StatusOK || err != nil {
		t.Fatalf("free: %d %s (%v)", status, b, err)
	}
	if len(out.Images) != 2 || out.NextToken == nil || *out.NextToken == "" {
		t.Fatalf("answer %s: want 2 images of 3 and a NextToken", b)
	}
	for i, im := range out.Images {
		if im.Error != "NO_MEDIA" || im.ImageContent != nil || int64(im.TimeStamp) != at+int64(i) {
			t.Errorf("image %d: %+v, want NO_MEDIA at %d", i, im, at+int64(i))
		}
	}
	// The slot was let go once the answer was written.
	r, err := svc.Admit(context.Background())
	if err != nil {
		t.Fatalf("after the answer: %v", err)
	}
	r()
}
