package images

import (
	"bytes"
	"encoding/binary"
	"errors"
)

var errTruncated = errors.New("images: truncated image stream")

// splitJPEG cuts ffmpeg's image2pipe MJPEG output into its JPEG images by
// walking each one's markers (ITU-T T.81 Annex B): segments with a length
// up to the scan, then entropy-coded data, in which 0xFF is followed by 0
// (stuffing) or a restart marker, up to EOI.
func splitJPEG(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, err := jpegLen(b)
		if err != nil {
			return out, err
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out, nil
}

func jpegLen(b []byte) (int, error) {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, errors.New("images: not a JPEG image")
	}
	i := 2
	for {
		if i+4 > len(b) || b[i] != 0xFF {
			return 0, errTruncated
		}
		m := b[i+1]
		if m == 0xD9 { // EOI without a scan
			return i + 2, nil
		}
		if m == 0xFF { // fill byte
			i++
			continue
		}
		seg := int(binary.BigEndian.Uint16(b[i+2:]))
		if seg < 2 {
			return 0, errors.New("images: bad JPEG segment length")
		}
		i += 2 + seg
		if m != 0xDA { // not SOS
			continue
		}
		// Entropy-coded data: up to a marker that is neither stuffing nor
		// a restart marker.
		for {
			k := bytes.IndexByte(b[i:], 0xFF)
			if k < 0 || i+k+1 >= len(b) {
				return 0, errTruncated
			}
			i += k
			next := b[i+1]
			if next == 0 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF {
				i++
				if next != 0xFF {
					i++
				}
				continue
			}
			break
		}
		if b[i+1] == 0xD9 {
			return i + 2, nil
		}
		// Another segment (a progressive JPEG's next scan): go on.
	}
}

var pngSig = []byte("\x89PNG\r\n\x1a\n")

// splitPNG cuts a stream of PNG images at each one's IEND chunk (PNG
// specification §5.3: length, type, data, CRC).
func splitPNG(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if !bytes.HasPrefix(b, pngSig) {
			return out, errors.New("images: not a PNG image")
		}
		i := len(pngSig)
		for {
			if i+12 > len(b) {
				return out, errTruncated
			}
			n := int(binary.BigEndian.Uint32(b[i:]))
			if n < 0 || n > len(b)-i-12 {
				return out, errTruncated
			}
			typ := string(b[i+4 : i+8])
			i += 12 + n
			if typ == "IEND" {
				break
			}
		}
		out = append(out, b[:i:i])
		b = b[i:]
	}
	return out, nil
}
