package replication

import (
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
	self    peer.ID
	target  kb.ID
	k       int
	peers   []peer.ID
	asked   map[peer.ID]bool
	refused map[peer.ID]bool // answered with a referral
}

// candidates returns the candidate set of a DHT key from the routing table
// alone: its k+lookupWidth nearest live peers and this node.
func (r *router) candidates(dhtKey string, k int) *candidateSet {
	target := kb.ConvertKey(dhtKey)
	return newCandidateSet(r.self, target, k, ids(r.nearestLive(target, k+lookupWidth)))
}

// newCandidateSet returns the candidate set of peers and self.
func newCandidateSet(self peer.ID, target kb.ID, k int, peers []peer.ID) *candidateSet {
	return &candidateSet{
		self:    self,
		target:  target,
		k:       k,
		peers:   kb.SortClosestPeers(append(slices.Clone(peers), self), target),
		asked:   make(map[peer.ID]bool),
		refused: make(map[peer.ID]bool),
	}
}

// window returns the peers currently taken for the key's holders.
func (c *candidateSet) window() []peer.ID {
	out := make([]peer.ID, 0, c.k)
	for _, p := range c.peers {
		if len(out) == c.k {
			break
		}
		if !c.refused[p] {
			out = append(out, p)
		}
	}
	return out
}

// next returns a window peer not asked yet, this node first (its copy
// costs no round trip), else the nearest, and marks it asked. It reports
// false when there is none, or when the bound on asked peers is reached.
func (c *candidateSet) next() (peer.ID, bool) {
	if len(c.asked) >= maxAskedFactor*c.k {
		return "", false
	}
	w := c.window()
	i := slices.Index(w, c.self)
	if i < 0 || c.asked[c.self] {
		i = slices.IndexFunc(w, func(p peer.ID) bool { return !c.asked[p] })
	}
	if i < 0 {
		return "", false
	}
	c.asked[w[i]] = true
	return w[i], true
}

// forgetAsked starts a new round of requests (a write's pushes after its
// read) that asks the window's peers again; referrals are kept.
func (c *candidateSet) forgetAsked() { clear(c.asked) }

// refuse records that p is not a holder and adds the peers it named.
func (c *candidateSet) refuse(p peer.ID, nearer []peer.ID) {
	c.refused[p] = true
	for _, q := range nearer {
		if !slices.Contains(c.peers, q) {
			c.peers = append(c.peers, q)
		}
	}
	c.peers = kb.SortClosestPeers(c.peers, c.target)
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
