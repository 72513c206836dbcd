package hls

import (
	"strings"
	"testing"
)

func TestSessionTokenRoundTrip(t *testing.T) {
	g := signer{key: []byte("0123456789abcdef0123456789abcdef")}
	in := &session{Mode: ModeReplay, Producer: true, Disc: DiscOnDisc, ShowTime: true, Container: ContainerTS, MaxResults: 42,
		Start: -5, End: 1 << 60, Expires: 1_800_000_000, Issued: 7, Created: 99, Anchor: 12345, Stream: "cam-1.x"}
	tok := g.sign(in)
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not URL-safe", tok)
	}
	out, err := g.verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if *out != *in {
		t.Fatalf("round trip: %+v, want %+v", out, in)
	}
	// Any change to the token, or another key, is refused.
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 1
		if _, err := g.verify(string(b)); err == nil {
			t.Fatalf("token altered at %d accepted", i)
		}
	}
	if _, err := (signer{key: []byte("another key")}).verify(tok); err == nil {
		t.Fatal("token of another key accepted")
	}
}

// FuzzSessionToken: session tokens arrive in URLs from anyone; verify must
// refuse garbage cleanly, and a forged body never passes without the key.
func FuzzSessionToken(f *testing.F) {
	g := signer{key: []byte("0123456789abcdef0123456789abcdef")}
	f.Add(g.sign(&session{Mode: ModeLive, Disc: DiscAlways, Container: ContainerFMP4, MaxResults: 5, Stream: "cam"}))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		s, err := g.verify(tok)
		if err != nil {
			return
		}
		if g.sign(s) != tok {
			t.Fatalf("token %q verified but does not re-sign to itself", tok)
		}
	})
}

func TestSessionTokenRefusesOtherVersions(t *testing.T) {
	g := signer{key: []byte("0123456789abcdef0123456789abcdef")}
	good := (&session{Mode: ModeLive, Disc: DiscAlways, Container: ContainerTS, MaxResults: 5, Stream: "cam"}).marshal()
	for name, edit := range map[string]func(b []byte){
		"version 1":   func(b []byte) { b[0] = 1 },
		"container 0": func(b []byte) { b[5] = 0 },
		"container 3": func(b []byte) { b[5] = 3 },
	} {
		t.Run(name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			edit(b)
			if _, err := unmarshalSession(b); err != ErrBadToken {
				t.Errorf("accepted: %v", err)
			}
		})
	}
	if _, err := g.verify(g.sign(&session{Mode: ModeLive, Disc: DiscAlways, Container: ContainerFMP4, Stream: "cam"})); err != nil {
		t.Error(err)
	}
}
