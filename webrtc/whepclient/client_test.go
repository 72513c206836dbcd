package whepclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// TestNegotiate runs the offer/answer exchange against a minimal WHEP
// endpoint (a pion peer on loopback), then ends the session.
func TestNegotiate(t *testing.T) {
	api, err := ClientAPI(true)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep", func(w http.ResponseWriter, r *http.Request) {
		offer, _ := io.ReadAll(r.Body)
		peer, answer, err := answerOffer(api, string(offer))
		if peer != nil {
			t.Cleanup(func() { _ = peer.Close() })
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Location", "session/1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
	mux.HandleFunc("DELETE /session/1", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	session, resp, answer, err := Negotiate(ctx, srv.Client(), srv.URL+"/whep", pc)
	if err != nil {
		t.Fatal(err)
	}
	if session != srv.URL+"/session/1" || resp.StatusCode != http.StatusCreated || !strings.HasPrefix(answer, "v=0") {
		t.Errorf("session %q, status %d, answer %.20q; want %s/session/1, 201, an SDP", session, resp.StatusCode, answer, srv.URL)
	}
	if code, err := EndSession(ctx, srv.Client(), session); err != nil || code != http.StatusOK {
		t.Errorf("EndSession = %d, %v; want 200", code, err)
	}

	other, _ := api.NewPeerConnection(pion.Configuration{})
	defer other.Close()
	_, _ = other.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly})
	if _, _, _, err := Negotiate(ctx, srv.Client(), srv.URL+"/nowhere", other); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Negotiate with a 404 endpoint: %v, want an error naming the status", err)
	}
}

// answerOffer is the server's side of the exchange: a peer that answers
// the offer once its candidates are gathered. The caller closes the peer.
func answerOffer(api *pion.API, offer string) (*pion.PeerConnection, string, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, "", err
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return pc, "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return pc, "", err
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return pc, "", err
	}
	<-gathered
	return pc, pc.LocalDescription().SDP, nil
}
