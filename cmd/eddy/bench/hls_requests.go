package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// sessionURL asks for a LIVE session (GetHLSStreamingSessionURL), retrying
// until the stream has a fragment or wait has passed. A watcher session
// selects producer timestamps and shows them (#EXT-X-PROGRAM-DATE-TIME).
func (b *hlsBench) sessionURL(ctx context.Context, watcher bool, wait time.Duration) (string, error) {
	in := map[string]any{"StreamName": b.stream, "PlaybackMode": "LIVE", "MaxMediaPlaylistFragmentResults": b.cfg.Window}
	if b.cfg.Expires > 0 {
		in["Expires"] = b.cfg.Expires
	}
	if b.cfg.LL && !watcher {
		// As the web UI's live view: server times (a part's first frame's
		// arrival) as program date-times, no discontinuities.
		in["DisplayFragmentTimestamp"] = "ALWAYS"
		in["DiscontinuityMode"] = "ON_DISCONTINUITY"
	}
	if watcher {
		in["HLSFragmentSelector"] = map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP"}
		in["DisplayFragmentTimestamp"] = "ALWAYS"
	}
	body, _ := json.Marshal(in)
	deadline := time.Now().Add(wait)
	for {
		u, err := b.trySessionURL(ctx, body, watcher)
		if err == nil {
			return u, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", err
		}
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			return "", ctx.Err()
		}
	}
}

func (b *hlsBench) trySessionURL(ctx context.Context, body []byte, watcher bool) (string, error) {
	hc := b.rc
	if watcher {
		hc = b.hc
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/getHLSStreamingSessionURL", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GetHLSStreamingSessionURL: %s: %s", resp.Status, bytes.TrimSpace(rb))
	}
	var out struct{ HLSStreamingSessionURL string }
	if err := json.Unmarshal(rb, &out); err != nil || out.HLSStreamingSessionURL == "" {
		return "", fmt.Errorf("GetHLSStreamingSessionURL: unexpected answer %q", rb)
	}
	return out.HLSStreamingSessionURL, nil
}

// get fetches u, discarding or returning the body; d is the time to the
// body's end.
func hlsGet(ctx context.Context, hc *http.Client, u string, keep bool) (body []byte, n int64, d time.Duration, status int, err error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, time.Since(t0), 0, err
	}
	defer resp.Body.Close()
	if keep || resp.StatusCode != http.StatusOK {
		body, err = io.ReadAll(resp.Body)
		n = int64(len(body))
	} else {
		n, err = io.Copy(io.Discard, resp.Body)
	}
	d = time.Since(t0)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", hlsPath(u), resp.Status, bytes.TrimSpace(body))
	}
	return body, n, d, resp.StatusCode, err
}

// mediaURL loads a master playlist and returns its first variant's URI.
func (b *hlsBench) mediaURL(ctx context.Context, hc *http.Client, master string) (string, error) {
	body, _, _, _, err := hlsGet(ctx, hc, master, true)
	if err != nil {
		return "", err
	}
	base, err := url.Parse(master)
	if err != nil {
		return "", err
	}
	inf := false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#EXT-X-STREAM-INF:"):
			inf = true
		case inf && line != "" && line[0] != '#':
			r, err := url.Parse(line)
			if err != nil {
				return "", err
			}
			return base.ResolveReference(r).String(), nil
		}
	}
	return "", fmt.Errorf("master playlist without a variant:\n%s", body)
}

// getPlaylist fetches the media playlist at u and parses it (base: its
// URL, for relative URIs); n and d are as hlsGet's.
func getPlaylist(ctx context.Context, hc *http.Client, u string, base *url.URL) (pl *hlsPlaylist, n int64, d time.Duration, err error) {
	body, n, d, _, err := hlsGet(ctx, hc, u, true)
	if err == nil {
		pl, err = parseHLSMediaPlaylist(base, body)
	}
	return pl, n, d, err
}
