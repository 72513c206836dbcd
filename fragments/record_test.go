package fragments

import "testing"

func TestRecordRoundTrip(t *testing.T) {
	f := &Fragment{ServerTime: 1, ProducerTime: -5, Duration: 2e9, Keyframe: true, InitID: InitID{1, 2, 3}, Media: []byte("moofmdat")}
	b := appendRecord(nil, f)
	g, err := parseRecord(7, b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Seq != 7 || g.ServerTime != 1 || g.ProducerTime != -5 || g.Duration != 2e9 || !g.Keyframe || g.InitID != f.InitID || string(g.Media) != "moofmdat" {
		t.Fatalf("round trip: %+v", g)
	}
	if _, err := parseRecord(1, []byte("EFR1short")); err == nil {
		t.Fatal("short record accepted")
	}
}
