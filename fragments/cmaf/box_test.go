package cmaf_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/eddy-video/eddy/fragments/cmaf"
)

func box(typ string, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

// TestBoxes: a 32-bit size, a 64-bit one and a size of 0 (to the end)
// read as their boxes; malformed boxes end the walk with an error in the
// box's terms; BoxBodies picks one type and stops quietly there.
func TestBoxes(t *testing.T) {
	large := append(binary.BigEndian.AppendUint32(nil, 1), "mdat"...)
	large = binary.BigEndian.AppendUint64(large, 16+4)
	large = append(large, 1, 2, 3, 4)
	sizeZero := append([]byte{0, 0, 0, 0}, "skip\x05\x06\x07"...)
	b := append(append(box("free", []byte{9}), large...), sizeZero...)

	type got struct {
		typ       string
		body, all []byte
	}
	var boxes []got
	for x, err := range cmaf.Boxes(b) {
		if err != nil {
			t.Fatal(err)
		}
		boxes = append(boxes, got{x.Type(), x.Body(), x.Bytes()})
	}
	want := []got{{"free", []byte{9}, b[:9]}, {"mdat", []byte{1, 2, 3, 4}, large}, {"skip", []byte{5, 6, 7}, sizeZero}}
	if len(boxes) != len(want) {
		t.Fatalf("%d boxes, want %d", len(boxes), len(want))
	}
	for i, w := range want {
		if g := boxes[i]; g.typ != w.typ || !bytes.Equal(g.body, w.body) || !bytes.Equal(g.all, w.all) {
			t.Errorf("box %d = %q % x (% x), want %q % x (% x)", i, g.typ, g.body, g.all, w.typ, w.body, w.all)
		}
	}

	for _, c := range []struct {
		b   []byte
		err string
	}{
		{append(box("free", nil), 0, 0, 0), "truncated box header"},
		{append(binary.BigEndian.AppendUint32(nil, 1), "mdat\x00\x00"...), "truncated box header"},
		{append(append(binary.BigEndian.AppendUint32(nil, 1), "mdat"...), binary.BigEndian.AppendUint64(nil, 17)...), `box "mdat" larger than its parent`},
		{append(append(binary.BigEndian.AppendUint32(nil, 1), "mdat"...), binary.BigEndian.AppendUint64(nil, 15)...), `box "mdat" has a bad size`},
		{append(binary.BigEndian.AppendUint32(nil, 7), "moov"...), `box "moov" has a bad size`},
		{append(binary.BigEndian.AppendUint32(nil, 9), "moov"...), `box "moov" has a bad size`},
	} {
		var last error
		n := 0
		for _, err := range cmaf.Boxes(c.b) {
			n++
			last = err
		}
		if last == nil || last.Error() != c.err {
			t.Errorf("% x: %d boxes, last error %v, want %s", c.b, n, last, c.err)
		}
	}

	var bodies [][]byte
	moov := box("moov", append(box("mvhd", []byte{1}), box("trak", nil)...))
	for body := range cmaf.BoxBodies(append(append(box("mvhd", []byte{2}), moov...), 0, 0), "moov") {
		bodies = append(bodies, body)
	}
	if len(bodies) != 1 || !bytes.Equal(bodies[0], moov[8:]) {
		t.Errorf("BoxBodies = % x, want one moov", bodies)
	}
	for range cmaf.BoxBodies(moov, "moov") {
		break // an iterator must stop when asked to
	}
}

// TestRenameSampleEntriesOnly: a box of the sample entry's type outside
// an stsd is not a sample entry and keeps its name.
func TestRenameSampleEntriesOnly(t *testing.T) {
	b := append(box("vp08", nil), box("moov", box("vp08", nil))...)
	if n := cmaf.RenameSampleEntries(b, "vp08", "vp09"); n != 0 || bytes.Contains(b, []byte("vp09")) {
		t.Errorf("renamed %d boxes outside an stsd", n)
	}
}
