package replication

import (
	"context"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// Liveness tells which routing-table peers are suspected dead, so that
// operations skip them instead of waiting on them. routing.Manager implements it.
type Liveness interface {
	IsSuspect(p peer.ID) bool
}

// lookupWidth is how many known peers are asked for a key's neighbourhood when
// the routing table cannot know it (kad-dht's resiliency β is 3 too).
const lookupWidth = 3

// lookupTimeout bounds the one-hop neighbourhood refinement.
const lookupTimeout = 2 * time.Second

// router picks the peers closest to a key from kad-dht's routing table,
// refining with one FIND_NODE round only where the table cannot know them.
type router struct {
	self       peer.ID
	d          *dht.IpfsDHT
	pm         *pb.ProtocolMessenger
	live       Liveness
	bucketSize int
}

// closest returns up to n live peers closest to the DHT key in XOR distance,
// this node included, nearest first.
func (r *router) closest(ctx context.Context, dhtKey string, n int) []peer.ID {
	target := kb.ConvertKey(dhtKey)
	rt := r.d.RoutingTable()
	known := r.filter(rt.NearestPeers(target, n+lookupWidth))
	if !r.neighbourhoodKnown(target) {
		known = r.refine(ctx, dhtKey, target, known)
	}
	known = append(known, r.self)
	sorted := kb.SortClosestPeers(known, target)
	if len(sorted) > n {
		sorted = sorted[:n]
	}
	return sorted
}

// neighbourhoodKnown reports whether the routing table holds every peer near
// the target: the bucket covering it is not full, so no peer was turned away.
func (r *router) neighbourhoodKnown(target kb.ID) bool {
	cpl := kb.CommonPrefixLen(target, kb.ConvertPeerID(r.self))
	return r.d.RoutingTable().NPeersForCpl(uint(cpl)) < r.bucketSize
}

// refine asks the nearest known peers for their peers closest to the key (one
// FIND_NODE round, in parallel) and merges the answers into known.
func (r *router) refine(ctx context.Context, dhtKey string, target kb.ID, known []peer.ID) []peer.ID {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ask := known
	if len(ask) > lookupWidth {
		ask = ask[:lookupWidth]
	}
	answers := make(chan []*peer.AddrInfo, len(ask))
	for _, p := range ask {
		go func() {
			infos, _ := r.pm.GetClosestPeers(ctx, p, peer.ID(dhtKey))
			answers <- infos
		}()
	}
	seen := make(map[peer.ID]bool, len(known))
	for _, p := range known {
		seen[p] = true
	}
	ps := r.d.Host().Peerstore()
	for range ask {
		for _, ai := range <-answers {
			if ai == nil || seen[ai.ID] || ai.ID == r.self || r.isSuspect(ai.ID) {
				continue
			}
			seen[ai.ID] = true
			ps.AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
			known = append(known, ai.ID)
		}
	}
	return kb.SortClosestPeers(known, target)
}

func (r *router) filter(ps []peer.ID) []peer.ID {
	out := ps[:0]
	for _, p := range ps {
		if !r.isSuspect(p) {
			out = append(out, p)
		}
	}
	return out
}

func (r *router) isSuspect(p peer.ID) bool { return r.live != nil && r.live.IsSuspect(p) }

// rank returns the position of p in peers, or -1.
func rank(peers []peer.ID, p peer.ID) int {
	for i, q := range peers {
		if q == p {
			return i
		}
	}
	return -1
}
