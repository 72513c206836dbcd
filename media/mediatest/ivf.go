package mediatest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// Testdata returns the path of a file in the repository's testdata/.
func Testdata(name string) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", "testdata", name)
}

// Files made with ffmpeg (see testdata/README.md): 3 s of 320x240 at 25
// fps, a keyframe every second.
const (
	FileVP8 = "cam-vp8.ivf"
	FileVP9 = "cam-vp9.ivf"
	FileAV1 = "cam-av1.ivf"
)

// IVF is a parsed IVF file (the container libvpx and ffmpeg write VP8,
// VP9 and AV1 elementary streams in: a 32-byte header, then per frame a
// 12-byte header and the frame).
type IVF struct {
	FourCC        string // VP80, VP90, AV01
	Width, Height int
	Rate, Scale   uint32 // time base: Scale/Rate seconds per PTS tick
	Frames        []IVFFrame
}

// IVFFrame is one frame of an IVF file.
type IVFFrame struct {
	PTS  int64 // in the file's time base
	Data []byte
}

// ReadIVF reads an IVF file. (pion's ivfreader returns each frame's PTS
// scaled by the time base, pts*rate/scale, which loses the PTS the tests
// need; the format is a 32-byte header and 12-byte frame headers.)
func ReadIVF(path string) (*IVF, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		return nil, errors.New("not an IVF file")
	}
	hl := int(binary.LittleEndian.Uint16(b[6:]))
	f := &IVF{
		FourCC: string(b[8:12]),
		Width:  int(binary.LittleEndian.Uint16(b[12:])),
		Height: int(binary.LittleEndian.Uint16(b[14:])),
		Rate:   binary.LittleEndian.Uint32(b[16:]),
		Scale:  binary.LittleEndian.Uint32(b[20:]),
	}
	if hl < 32 || hl > len(b) || f.Rate == 0 || f.Scale == 0 {
		return nil, errors.New("bad IVF header")
	}
	for p := b[hl:]; len(p) > 0; {
		if len(p) < 12 {
			return nil, errors.New("truncated IVF frame header")
		}
		n := int(binary.LittleEndian.Uint32(p))
		if n > len(p)-12 {
			return nil, errors.New("truncated IVF frame")
		}
		f.Frames = append(f.Frames, IVFFrame{PTS: int64(binary.LittleEndian.Uint64(p[4:])), Data: p[12 : 12+n]})
		p = p[12+n:]
	}
	return f, nil
}

// Unit is one access unit of a file, as a hub carries it (see the Track
// conventions of package media).
type Unit struct {
	PTS     int64 // 90 kHz
	Payload [][]byte
}

// Units reads an IVF file as the access units of its codec: VP8 and VP9
// one frame each, AV1 the OBUs of one temporal unit without obu_size and
// without temporal delimiters. It returns the codec name too.
func Units(path string) (codec string, units []Unit, err error) {
	f, err := ReadIVF(path)
	if err != nil {
		return "", nil, err
	}
	switch f.FourCC {
	case "VP80":
		codec = "VP8"
	case "VP90":
		codec = "VP9"
	case "AV01":
		codec = "AV1"
	default:
		return "", nil, fmt.Errorf("IVF FourCC %q", f.FourCC)
	}
	for _, fr := range f.Frames {
		u := Unit{PTS: fr.PTS * 90000 * int64(f.Scale) / int64(f.Rate)}
		if codec != "AV1" {
			u.Payload = [][]byte{fr.Data}
		} else {
			var tu av1.Bitstream // drops obu_size
			if err := tu.Unmarshal(fr.Data); err != nil {
				return "", nil, fmt.Errorf("AV1 temporal unit: %w", err)
			}
			for _, obu := range tu {
				if obu[0]>>3&0x0f != 2 { // OBU_TEMPORAL_DELIMITER
					u.Payload = append(u.Payload, obu)
				}
			}
		}
		units = append(units, u)
	}
	return codec, units, nil
}
