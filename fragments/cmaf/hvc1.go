package cmaf

import (
	"bytes"
	"encoding/binary"
)

// H265SampleEntriesToHVC1 turns the H.265 sample entries of an ISO-BMFF
// file's moov from hev1 into hvc1, in place, and returns how many it
// changed. The fMP4 writer Eddy uses writes hev1; the HLS CODECS string
// says hvc1 and Apple's players play only hvc1.
//
// hvc1 means the decoder configuration (hvcC) holds every parameter set
// the samples use (ISO/IEC 14496-15 §8.4.1: array_completeness is 1 for
// the VPS, SPS and PPS arrays). That holds for what Eddy writes: a new
// init segment is cut whenever a keyframe brings other parameter sets,
// so those of its samples are copies of the ones in hvcC (players accept
// such repeated in-band copies). The completeness flag of those arrays
// is set accordingly.
func H265SampleEntriesToHVC1(b []byte) int {
	if !bytes.Contains(b, []byte("hev1")) {
		return 0
	}
	n := 0
	walkSampleEntries(b, func(x Box) {
		if !x.Is("hev1") {
			return
		}
		entry := x.Bytes()
		copy(entry[4:8], "hvc1")
		n++
		// VisualSampleEntry (§12.1.3): 8 bytes of SampleEntry, 70 of
		// visual fields, then child boxes (hvcC, pasp, ...).
		if len(entry) < 8+78 {
			return
		}
		children := entry[8+78:]
		for len(children) >= 8 {
			size := int(binary.BigEndian.Uint32(children))
			if size < 8 || size > len(children) {
				return
			}
			if string(children[4:8]) == "hvcC" {
				markParameterSetsComplete(children[8:size])
			}
			children = children[size:]
		}
	})
	return n
}

// markParameterSetsComplete sets array_completeness on the VPS, SPS and
// PPS arrays of an HEVCDecoderConfigurationRecord (§8.3.3.1.2): 22 bytes
// of fields, numOfArrays, then per array one byte (completeness, reserved,
// NAL unit type), numNalus and the length-prefixed NAL units.
func markParameterSetsComplete(rec []byte) {
	if len(rec) < 23 {
		return
	}
	arrays := int(rec[22])
	p := 23
	for range arrays {
		if p+3 > len(rec) {
			return
		}
		switch rec[p] & 0x3f {
		case 32, 33, 34: // VPS_NUT, SPS_NUT, PPS_NUT
			rec[p] |= 0x80
		}
		nalus := int(binary.BigEndian.Uint16(rec[p+1:]))
		p += 3
		for range nalus {
			if p+2 > len(rec) {
				return
			}
			p += 2 + int(binary.BigEndian.Uint16(rec[p:]))
		}
	}
}
