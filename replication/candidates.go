package replication

import (
	"iter"
	"slices"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// maxAskedFactor bounds the peers one read or write asks, as a multiple of
// k, however many referrals it follows.
const maxAskedFactor = 3

// candidateSet is the peers a client read or write may ask about a key,
// nearest first: at first those of this node's routing table, this node
// included, then also those that non-holders name in referrals. The key's
// holders are taken to be the k nearest candidates not known to be
// non-holders (the window).
type candidateSet struct {
	self     peer.ID
	target   kb.ID
	k        int
	peers    []peer.ID
	asked    []peer.ID
	refused  []peer.ID        // answered with a referral, or named by one and failed
	referred map[peer.ID]bool // named by a referral, not in this node's table
}

// candidates returns the candidate set of a DHT key from the routing table
// alone: its k+lookupWidth nearest live peers and this node.
func (r *router) candidates(dhtKey string, k int) *candidateSet {
	target := kb.ConvertKey(dhtKey)
	self := indexedPeer{id: r.self, kid: r.selfKid}
	return newCandidateSet(self, target, k, r.nearestLive(target, k+lookupWidth))
}

// newCandidateSet returns the candidate set of near (nearest target first)
// and self.
func newCandidateSet(self indexedPeer, target kb.ID, k int, near []indexedPeer) *candidateSet {
	return &candidateSet{self: self.id, target: target, k: k, peers: withSelf(self, target, near)}
}

// withSelf returns the IDs of near (nearest target first) with self in its
// place among them.
func withSelf(self indexedPeer, target kb.ID, near []indexedPeer) []peer.ID {
	peers := make([]peer.ID, 0, len(near)+1)
	placed := false
	for _, p := range near {
		if !placed && closer(self.kid, p.kid, target) {
			peers, placed = append(peers, self.id), true
		}
		peers = append(peers, p.id)
	}
	if !placed {
		peers = append(peers, self.id)
	}
	return peers
}

// windowPeers yields the peers currently taken for the key's holders: the
// k nearest candidates that have not answered with a referral.
func (c *candidateSet) windowPeers() iter.Seq[peer.ID] {
	return func(yield func(peer.ID) bool) {
		n := 0
		for _, p := range c.peers {
			if n == c.k {
				return
			}
			if slices.Contains(c.refused, p) {
				continue
			}
			n++
			if !yield(p) {
				return
			}
		}
	}
}

// window returns the peers currently taken for the key's holders.
func (c *candidateSet) window() []peer.ID { return slices.Collect(c.windowPeers()) }

// next returns a window peer not asked yet, this node first (its copy
// costs no round trip), else the nearest, and marks it asked. It reports
// false when there is none, or when the bound on asked peers is reached.
func (c *candidateSet) next() (peer.ID, bool) {
	if len(c.asked) >= maxAskedFactor*c.k {
		return "", false
	}
	var nearest peer.ID
	for p := range c.windowPeers() {
		if slices.Contains(c.asked, p) {
			continue
		}
		if p == c.self {
			nearest = p
			break
		}
		if nearest == "" {
			nearest = p
		}
	}
	if nearest == "" {
		return "", false
	}
	c.asked = append(c.asked, nearest)
	return nearest, true
}

// forgetAsked starts a new round of requests (a write's pushes after its
// read) that asks the window's peers again; referrals are kept.
func (c *candidateSet) forgetAsked() { c.asked = c.asked[:0] }

// refuse records that p is not a holder and adds the peers it named.
func (c *candidateSet) refuse(p peer.ID, nearer []peer.ID) {
	c.refused = append(c.refused, p)
	for _, q := range nearer {
		if !slices.Contains(c.peers, q) {
			c.peers = append(c.peers, q)
			if c.referred == nil {
				c.referred = make(map[peer.ID]bool)
			}
			c.referred[q] = true
		}
	}
	c.peers = kb.SortClosestPeers(c.peers, c.target)
}

// dropReferred takes p out of the window if only a referral named it
// (p failed to answer): a peer that names made-up or dead peers nearer
// the key than every holder cannot keep them in the window. It reports
// whether p was dropped.
func (c *candidateSet) dropReferred(p peer.ID) bool {
	if !c.referred[p] || slices.Contains(c.refused, p) {
		return false
	}
	c.refused = append(c.refused, p)
	return true
}

// learnReferral adds the addresses of a referral's peers to the peerstore,
// for a short while, so that they can be dialled, and returns their IDs.
func learnReferral(ps peerstore.Peerstore, self peer.ID, infos []peer.AddrInfo) []peer.ID {
	ids := make([]peer.ID, 0, len(infos))
	for _, ai := range infos {
		if ai.ID != self {
			ps.AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		}
		ids = append(ids, ai.ID)
	}
	return ids
}
