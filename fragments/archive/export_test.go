package archive

// MKVCodec is how a track is described in Matroska output.
var MKVCodec = mkvCodec
