package tier

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzObjectName: names from bucket listings are a segment's only when
// they are exactly 20 digits and .seg or .idx, and then name that base.
func FuzzObjectName(f *testing.F) {
	for _, s := range []string{"00000000000000000001.seg", "00000000000000000001.idx", "18446744073709551615.seg",
		"99999999999999999999.seg", "1.seg", "+0000000000000000001.seg", "0000000000000000001a.idx", "stream.json", ".seg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		base, ok := parseBase(name)
		if !ok {
			return
		}
		ext := name[len(name)-4:]
		if want := fmt.Sprintf("%020d%s", base, ext); want != name {
			t.Fatalf("%q parsed as base %d (%q)", name, base, want)
		}
	})
}

// FuzzCRCMeta: the crc32c metadata of a HEAD answer is taken only as 8
// hex digits.
func FuzzCRCMeta(f *testing.F) {
	for _, s := range []string{"0000abcd", "FFFFFFFF", "abc", "123456789", "+1234567", "0x123456", "1234_678", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseCRC(s)
		if err != nil {
			return
		}
		if formatCRC(v) != strings.ToLower(s) {
			t.Fatalf("%q parsed as %08x", s, v)
		}
	})
}
