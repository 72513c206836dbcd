package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sockProbe samples /proc/net/tcp (IPv4: the bench uses 127.0.0.1) for
// the RTSP connections' queues: bytes the server has received but not read
// (rx_queue of sockets on the RTSP port) and bytes publishers have written
// but the server's kernel has not acknowledged (tx_queue of sockets to
// it). On loopback both grow only when the server does not read fast
// enough; both staying small while publishers fail points at the client.
type sockProbe struct {
	port    string // hex, as in /proc/net/tcp
	mu      sync.Mutex
	samples []sockSample
}

type sockSample struct {
	at          time.Time
	serverRx    int64 // largest server-side receive queue
	clientTx    int64 // largest publisher-side send queue
	serverRxSum int64
}

func (sp *sockProbe) run(ctx context.Context) {
	// Every 500 ms: each read of /proc/net/tcp costs a few ms of kernel
	// time with a few hundred sockets, and counts as bench CPU.
	for sleepCtx(ctx, 500*time.Millisecond) == nil {
		b, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			return
		}
		smp := sockSample{at: time.Now()}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			_, lport, _ := strings.Cut(f[1], ":")
			_, rport, _ := strings.Cut(f[2], ":")
			txs, rxs, _ := strings.Cut(f[4], ":")
			tx, _ := strconv.ParseInt(txs, 16, 64)
			rx, _ := strconv.ParseInt(rxs, 16, 64)
			switch {
			case lport == sp.port && f[3] == "01": // ESTABLISHED, server side
				smp.serverRx = max(smp.serverRx, rx)
				smp.serverRxSum += rx
			case rport == sp.port:
				smp.clientTx = max(smp.clientTx, tx)
			}
		}
		sp.mu.Lock()
		sp.samples = append(sp.samples, smp)
		sp.mu.Unlock()
	}
}

// max returns the largest queues seen in [from, to].
func (sp *sockProbe) max(from, to time.Time) (serverRx, serverRxSum, clientTx int64, n int) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for _, s := range sp.samples {
		if s.at.Before(from) || s.at.After(to) {
			continue
		}
		n++
		serverRx, serverRxSum, clientTx = max(serverRx, s.serverRx), max(serverRxSum, s.serverRxSum), max(clientTx, s.clientTx)
	}
	return
}
