package replication

import (
	"slices"
	"sync"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerIndexMaxAge bounds how long a snapshot is used without a routing-table
// event, in case one was missed.
const peerIndexMaxAge = 10 * time.Second

// peerIndex is a snapshot of the routing table's peers with their Kademlia
// IDs, rebuilt after the table changes. Every client read and write, and
// every holder check a peer asks of this node, picks the peers nearest a
// key: from the snapshot that costs one pass over a flat slice, where
// kbucket's NearestPeers walks its bucket lists, allocates a distance per
// peer and sorts through an interface.
type peerIndex struct {
	mu    sync.Mutex
	gen   uint64
	at    time.Time
	peers []indexedPeer
}

type indexedPeer struct {
	id  peer.ID
	kid kb.ID
}

// snapshot returns the peers of rt as of table generation gen.
func (x *peerIndex) snapshot(gen uint64, rt *kb.RoutingTable) []indexedPeer {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.peers != nil && x.gen == gen && time.Since(x.at) < peerIndexMaxAge {
		return x.peers
	}
	ids := rt.ListPeers()
	peers := make([]indexedPeer, len(ids))
	for i, p := range ids {
		peers[i] = indexedPeer{id: p, kid: kb.ConvertPeerID(p)}
	}
	x.peers, x.gen, x.at = peers, gen, time.Now()
	return peers
}

// nearestSlack is how many peers beyond n nearest first selects, so that
// a few suspected peers among the nearest do not force a second pass.
const nearestSlack = 4

// nearest returns up to n of peers nearest target, nearest first, leaving
// out those skip reports (asked only of the few nearest, as it may lock).
func nearest(peers []indexedPeer, target kb.ID, n int, skip func(peer.ID) bool) []indexedPeer {
	top := selectNearest(peers, target, n+nearestSlack, nil)
	live := top[:0:0]
	for _, p := range top {
		if !skip(p.id) {
			live = append(live, p)
		}
	}
	if len(live) >= n || len(top) < n+nearestSlack {
		return live[:min(n, len(live))]
	}
	return selectNearest(peers, target, n, skip) // many suspects near the target
}

// selectNearest returns the m peers nearest target, nearest first, leaving
// out those skip (if not nil) reports: one pass, keeping the best m so far.
func selectNearest(peers []indexedPeer, target kb.ID, m int, skip func(peer.ID) bool) []indexedPeer {
	top := make([]indexedPeer, 0, m+1)
	for _, p := range peers {
		if len(top) == m && !closer(p.kid, top[m-1].kid, target) {
			continue
		}
		if skip != nil && skip(p.id) {
			continue
		}
		i := len(top)
		for i > 0 && closer(p.kid, top[i-1].kid, target) {
			i--
		}
		top = slices.Insert(top, i, p)
		if len(top) > m {
			top = top[:m]
		}
	}
	return top
}

// closer reports whether a is nearer target than b in XOR distance.
func closer(a, b, target kb.ID) bool {
	for i := range target {
		if x, y := a[i]^target[i], b[i]^target[i]; x != y {
			return x < y
		}
	}
	return false
}

// ids returns the peer IDs of ps.
func ids(ps []indexedPeer) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	return out
}
