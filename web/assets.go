package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// dist is the built front end (see package doc). index.html references
// assets under assets/ whose names carry a content hash.
//
//go:embed dist
var dist embed.FS

// contentTypes are the types of what the build emits; anything else is
// application/octet-stream (no sniffing of embedded files).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".map":  "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	b, err := dist.ReadFile("dist/index.html")
	if err != nil {
		http.Error(w, "the web UI is not built (run npm ci && npm run build in web/)", http.StatusNotFound)
		return
	}
	setSecurityHeaders(w)
	w.Header().Set("Content-Type", contentTypes[".html"])
	// index.html names the current hashed assets: always revalidate.
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", startTime, strings.NewReader(string(b)))
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/assets/")
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		http.NotFound(w, r)
		return
	}
	f, err := dist.Open(path.Join("dist/assets", name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	setSecurityHeaders(w)
	w.Header().Set("Content-Type", ct)
	if hashedName(name) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", startTime, f.(readSeeker))
}

type readSeeker interface {
	fs.File
	Read([]byte) (int, error)
	Seek(int64, int) (int64, error)
}

// hashedName reports whether an asset name carries an esbuild content hash
// (name-HASH.ext, HASH of 8 upper-case letters and digits).
func hashedName(name string) bool {
	base := strings.TrimSuffix(path.Base(name), path.Ext(name))
	i := strings.LastIndexByte(base, '-')
	if i < 0 || len(base)-i-1 != 8 {
		return false
	}
	for _, c := range base[i+1:] {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Everything is same-origin; hls.js runs its demuxer in a blob: worker
	// and plays through MediaSource (blob: media URLs); the timeline's
	// thumbnails are fetched, then shown from blob: URLs.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; worker-src 'self' blob:; media-src 'self' blob:; img-src 'self' data: blob:; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
}
