package whepclient

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"
)

// ClientAPI returns a pion API for WHEP/WHIP clients (tests, benchmarks,
// `eddy` subcommands): every default codec, NACK and RTCP reports, and ICE
// restricted to loopback addresses when loopbackOnly is set.
func ClientAPI(loopbackOnly bool) (*pion.API, error) { return ClientAPIOn(loopbackOnly, nil) }

// ClientAPIOn is ClientAPI with ICE over UDP through mux (nil: sockets of
// its own): a client that reads its own socket (the bench stamps each
// packet with the kernel's receive time).
func ClientAPIOn(loopbackOnly bool, mux ice.UDPMux) (*pion.API, error) {
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := pion.ConfigureNack(me, ir); err != nil {
		return nil, err
	}
	if err := pion.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	se := pion.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetReceiveMTU(1600)
	if loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeTCP4})
	}
	if mux != nil {
		se.SetICEUDPMux(mux)
	}
	return pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir)), nil
}

// Option adjusts the requests of Negotiate and EndSession.
type Option func(*http.Request)

// WithToken sends a bearer token (Authorization: Bearer, as the WHIP and
// WHEP specifications authenticate): an Eddy token from POST
// /api/v1/tokens or `eddy token`.
func WithToken(token string) Option {
	return func(r *http.Request) {
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
}

// Negotiate does the WHEP or WHIP exchange for pc (its transceivers
// added): it POSTs the offer, with every candidate, to endpoint, applies
// the answer and returns the session's URL (for DELETE) and the response.
func Negotiate(ctx context.Context, hc *http.Client, endpoint string, pc *pion.PeerConnection, opts ...Option) (string, *http.Response, string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", nil, "", err
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", nil, "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", nil, "", ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return "", nil, "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	for _, o := range opts {
		o(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", resp, "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", resp, string(body), fmt.Errorf("POST %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return "", resp, string(body), err
	}
	loc, err := url.Parse(endpoint)
	if err != nil {
		return "", resp, string(body), err
	}
	rel, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", resp, string(body), err
	}
	return loc.ResolveReference(rel).String(), resp, string(body), nil
}

// EndSession DELETEs a WHEP or WHIP session URL.
func EndSession(ctx context.Context, hc *http.Client, sessionURL string, opts ...Option) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, sessionURL, nil)
	if err != nil {
		return 0, err
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
