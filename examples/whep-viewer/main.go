// Command whep-viewer serves index.html, a page that plays a stream of an
// Eddy server live over WebRTC (WHEP) with the browser's own
// RTCPeerConnection: the smallest complete WHEP client.
//
//	go run ./examples/whep-viewer -endpoint http://127.0.0.1:8080 -stream door
//
// then open the address it prints. The page needs no server of its own:
// Eddy's WHEP endpoints answer CORS for any origin, so index.html opened
// from disk works the same (its query string names the endpoint and the
// stream). This program only saves you the path.
package main

import (
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"time"
)

//go:embed index.html
var page []byte

func main() {
	listen := flag.String("listen", "127.0.0.1:8090", "the address to serve the page on")
	endpoint := flag.String("endpoint", "http://127.0.0.1:8080", "the Eddy server's URL, as the browser reaches it")
	stream := flag.String("stream", "door", "the stream to play")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	q := url.Values{"endpoint": {*endpoint}, "stream": {*stream}}
	fmt.Printf("open http://%s/?%s\n", ln.Addr(), q.Encode())
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// handler serves the page at / and nothing else.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}
