// Package whepclient is the client side of WHEP (WebRTC-HTTP Egress
// Protocol) and WHIP (WebRTC-HTTP Ingestion Protocol, RFC 9725): a pion API
// set up for clients (ClientAPI), the HTTP offer/answer exchange that
// creates a session (Negotiate) and its DELETE (EndSession), and the events
// data channel of a WHEP session (OpenEvents). `eddy whep`,
// `eddy bench webrtc` and the end-to-end tests use it.
//
// It speaks only HTTP and SDP to a server it does not know: it must not
// import the server side (package webrtc) or anything else of Eddy's.
package whepclient
