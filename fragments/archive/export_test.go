package archive

// MKVCodec is how a track is described in Matroska output.
var MKVCodec = mkvCodec

// UnescapeHTML is how event JSON is written into media.
var UnescapeHTML = unescapeHTML
