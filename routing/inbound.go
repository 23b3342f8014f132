package routing

import (
	"context"
	"sync"
	"time"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Inbound records when each peer was last heard from: it sent this node a DHT
// or record request, or answered a record request. A peer just heard from is
// alive, so the prober skips it; two peers that probe each other then share
// one probe per interval instead of two, and peers busy exchanging records
// need no probes at all.
type Inbound struct {
	mu   sync.Mutex
	last map[peer.ID]time.Time
}

// NewInbound returns an empty record. Pass its Hook to kad-dht
// (dht.OnRequestHook) and the record to the Manager (Config.Inbound).
func NewInbound() *Inbound { return &Inbound{last: make(map[peer.ID]time.Time)} }

// Hook is a kad-dht OnRequestHook: it notes the sender of every request.
func (in *Inbound) Hook(_ context.Context, s network.Stream, _ *pb.Message) {
	in.Seen(s.Conn().RemotePeer())
}

// Seen notes that p was just heard from: it sent a request or answered one.
func (in *Inbound) Seen(p peer.ID) {
	in.mu.Lock()
	in.last[p] = time.Now()
	in.mu.Unlock()
}

// lastRequest is when p was last heard from (zero if never, or if in is nil).
func (in *Inbound) lastRequest(p peer.ID) time.Time {
	if in == nil {
		return time.Time{}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.last[p]
}

// keepOnly forgets every peer not in keep, so the record stays as small as
// the routing table.
func (in *Inbound) keepOnly(keep map[peer.ID]time.Time) {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for p := range in.last {
		if _, ok := keep[p]; !ok {
			delete(in.last, p)
		}
	}
}
