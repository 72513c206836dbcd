package server

// ImagesConfig tunes the decoding of still images (GetImages, the web
// UI's thumbnails) with FFmpeg.
type ImagesConfig struct {
	// FFmpeg is the ffmpeg program: a path, or a name looked up in PATH
	// (empty: "ffmpeg"). Without it the server runs, and GetImages and
	// thumbnails answer what to install.
	FFmpeg string `yaml:"ffmpeg"`
	// Workers is how many ffmpeg processes decode at once (0: one per
	// CPU).
	Workers int `yaml:"workers"`
	// ThumbnailCache bounds the bytes of JPEG the web UI's thumbnail
	// cache keeps (0: 64 MiB).
	ThumbnailCache Size `yaml:"thumbnail_cache"`
}
