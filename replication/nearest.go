package replication

import (
	"bytes"
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

// byDistance is a peer and its XOR distance to a target.
type byDistance struct {
	id   peer.ID
	dist []byte
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

// nearest returns up to n of peers nearest target, nearest first, leaving
// out those skip reports.
func nearest(peers []indexedPeer, target kb.ID, n int, skip func(peer.ID) bool) []byDistance {
	all := make([]byDistance, len(peers))
	dists := make([]byte, len(peers)*len(target))
	for i, p := range peers {
		d := dists[i*len(target) : (i+1)*len(target)]
		for j := range d {
			d[j] = p.kid[j] ^ target[j]
		}
		all[i] = byDistance{id: p.id, dist: d}
	}
	slices.SortFunc(all, func(a, b byDistance) int { return bytes.Compare(a.dist, b.dist) })
	out := all[:0]
	for _, c := range all {
		if len(out) == n {
			break
		}
		if !skip(c.id) {
			out = append(out, c)
		}
	}
	return out
}

// ids returns the peer IDs of ps.
func ids(ps []byDistance) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.id
	}
	return out
}

// xorDistance returns a XOR b.
func xorDistance(a, b kb.ID) []byte {
	d := make([]byte, len(a))
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}
