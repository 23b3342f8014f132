package replication

import (
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
	live := top[:0] // filtered in place: top is this call's own slice
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
// out those skip (if not nil) reports: one pass, keeping the positions of the
// best m so far in order (moving ints, not peers, as each one enters).
func selectNearest(peers []indexedPeer, target kb.ID, m int, skip func(peer.ID) bool) []indexedPeer {
	if m <= 0 {
		return nil
	}
	top := make([]int, 0, min(m, len(peers)))
	for i := range peers {
		kid := peers[i].kid
		if len(top) == m && !closer(kid, peers[top[m-1]].kid, target) {
			continue
		}
		if skip != nil && skip(peers[i].id) {
			continue
		}
		if len(top) < m {
			top = append(top, i)
		} else {
			top[m-1] = i
		}
		for j := len(top) - 1; j > 0 && closer(kid, peers[top[j-1]].kid, target); j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	out := make([]indexedPeer, len(top))
	for j, i := range top {
		out[j] = peers[i]
	}
	return out
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
