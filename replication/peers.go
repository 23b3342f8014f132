package replication

import (
	"context"
	"slices"
	"sync"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Liveness tells which routing-table peers are suspected dead, so that
// operations skip them instead of waiting on them. routing.Manager implements it.
type Liveness interface {
	IsSuspect(p peer.ID) bool
}

// lookupWidth is how many known peers are tried, one after another, for a
// key's neighbourhood when the routing table cannot know it.
const lookupWidth = 3

// lookupTimeout bounds the one-hop neighbourhood refinement.
const lookupTimeout = 2 * time.Second

// router picks the peers closest to a key from kad-dht's routing table,
// refining with one FIND_NODE round only where the table cannot know them.
type router struct {
	self       peer.ID
	selfKid    kb.ID // self's Kademlia ID
	d          *dht.IpfsDHT
	ms         pb.MessageSender
	live       Liveness
	bucketSize int
	cache      closestCache
	index      peerIndex
}

// closest returns up to n live peers closest to the DHT key in XOR distance,
// this node included, nearest first. Answers that took a network round
// trip are cached until the routing table changes (or closestCacheTTL
// passes), so repeated operations and repair sweeps on a stable network
// cost no lookups. Answers from the routing table alone are not cached:
// computing one again costs a pass over the table, and caching every key a
// repair pass looks at held megabytes at tens of thousands of records.
func (r *router) closest(ctx context.Context, dhtKey string, n int) []peer.ID {
	if peers, ok := r.cache.get(dhtKey, n); ok && !slices.ContainsFunc(peers, r.isSuspect) {
		return peers
	}
	target := kb.ConvertKey(dhtKey)
	if r.neighbourhoodKnown(target) {
		return r.localClosest(target, n)
	}
	gen := r.cache.generation()
	peers, _ := r.refined(ctx, dhtKey, target, n)
	r.cache.put(dhtKey, n, gen, peers)
	return peers
}

// lookup returns up to n live peers nearest the DHT key, this node
// included, from the routing table refined with one FIND_NODE round, even
// where the table's bucket has room: a peer it never met, or one that
// joined since, may be among them. It also returns the bytes of the
// FIND_NODE request and answer (refine).
func (r *router) lookup(ctx context.Context, dhtKey string, n int) ([]peer.ID, int) {
	return r.refined(ctx, dhtKey, kb.ConvertKey(dhtKey), n)
}

// localClosest returns the n peers nearest target, this node included, among
// those of its routing table: no network round trip.
func (r *router) localClosest(target kb.ID, n int) []peer.ID {
	sorted := withSelf(indexedPeer{id: r.self, kid: r.selfKid}, target, r.nearestLive(target, n))
	return sorted[:min(n, len(sorted))]
}

// refined is closest where the routing table cannot know the key's
// neighbourhood: the nearest known peers, refined with one FIND_NODE round
// (of the bytes it returns).
func (r *router) refined(ctx context.Context, dhtKey string, target kb.ID, n int) ([]peer.ID, int) {
	near := r.nearestLive(target, n+lookupWidth)
	refined, bytes := r.refine(ctx, dhtKey, target, ids(near))
	sorted := kb.SortClosestPeers(append(refined, r.self), target)
	return sorted[:min(n, len(sorted))], bytes
}

// nearerPeers returns the n live peers of the routing table nearest the DHT
// key, with their addresses, if all of them are nearer than this node: then
// this node is not one of the key's n holders. It returns nil otherwise. It
// costs no network round trip, and it is exact when this node is a holder,
// as its buckets near the key are then not full.
func (r *router) nearerPeers(dhtKey string, n int) []peer.AddrInfo {
	target := kb.ConvertKey(dhtKey)
	peers := r.index.snapshot(r.cache.generation(), r.d.RoutingTable())
	nearer := 0
	for _, p := range peers {
		if closer(p.kid, r.selfKid, target) && !r.isSuspect(p.id) {
			if nearer++; nearer == n {
				break
			}
		}
	}
	if nearer < n {
		return nil
	}
	ps := r.d.Host().Peerstore()
	var out []peer.AddrInfo
	for _, p := range nearest(peers, target, n, r.isSuspect) {
		addrs := ps.Addrs(p.id)
		out = append(out, peer.AddrInfo{ID: p.id, Addrs: addrs[:min(len(addrs), maxReferralAddrs)]})
	}
	return out
}

// nearestLive returns the n live routing-table peers nearest target.
func (r *router) nearestLive(target kb.ID, n int) []indexedPeer {
	peers := r.index.snapshot(r.cache.generation(), r.d.RoutingTable())
	return nearest(peers, target, n, r.isSuspect)
}

// neighbourhoodKnown reports whether the routing table holds every peer near
// the target: the bucket covering it is not full, so no peer was turned away.
// It counts the table's peers sharing the target's prefix length with this
// node (kbucket's NPeersForCpl) from the index: NPeersForCpl copies the
// bucket's peer list on every call.
func (r *router) neighbourhoodKnown(target kb.ID) bool {
	cpl := kb.CommonPrefixLen(target, r.selfKid)
	n := 0
	for _, p := range r.index.snapshot(r.cache.generation(), r.d.RoutingTable()) {
		if kb.CommonPrefixLen(p.kid, r.selfKid) == cpl {
			n++
		}
	}
	return n < r.bucketSize
}

// refine asks the nearest known peer for its peers closest to the key (one
// FIND_NODE; the next nearest if it fails, up to lookupWidth of them) and
// merges the answer into known. The nearest known peer lies deeper in the
// key's subtree than this node, so its table covers the key's neighbourhood.
// It also returns the bytes of the request and answer that succeeded, as
// kad-dht's message sender frames them (findNodeBytes); a request that
// failed counts nothing (most fail before anything is sent: a dial).
func (r *router) refine(ctx context.Context, dhtKey string, target kb.ID, known []peer.ID) ([]peer.ID, int) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var infos []*peer.AddrInfo
	bytes := 0
	for i, p := range known {
		if i == lookupWidth {
			break
		}
		// As pb.ProtocolMessenger.GetClosestPeers, keeping the messages
		// to count them.
		req := pb.NewMessage(pb.Message_FIND_NODE, []byte(dhtKey), 0)
		if resp, err := r.ms.SendRequest(ctx, p, req); err == nil {
			infos, bytes = pb.PBPeersToPeerInfos(resp.GetCloserPeers()), findNodeBytes(req)+findNodeBytes(resp)
			break
		}
	}
	seen := make(map[peer.ID]bool, len(known))
	for _, p := range known {
		seen[p] = true
	}
	ps := r.d.Host().Peerstore()
	for _, ai := range infos {
		if ai == nil || seen[ai.ID] || ai.ID == r.self || r.isSuspect(ai.ID) {
			continue
		}
		seen[ai.ID] = true
		ps.AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		known = append(known, ai.ID)
	}
	return kb.SortClosestPeers(known, target), bytes
}

// findNodeBytes is the size of a DHT message on the stream: kad-dht writes
// each with its length as a varint before it (net.WriteMsg). The transport's
// framing (yamux headers, the noise tag: a few dozen bytes per message) is
// not counted.
func findNodeBytes(m *pb.Message) int {
	n := proto.Size(m)
	return n + protowire.SizeVarint(uint64(n))
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

// invalidate drops the cached answers: the routing table changed.
func (r *router) invalidate() { r.cache.invalidate() }

func (r *router) tableSize() int { return r.d.RoutingTable().Size() }

// tablePeers returns the live peers of the routing table.
func (r *router) tablePeers() []peer.ID {
	var out []peer.ID
	for _, p := range r.index.snapshot(r.cache.generation(), r.d.RoutingTable()) {
		if !r.isSuspect(p.id) {
			out = append(out, p.id)
		}
	}
	return out
}

func (r *router) isSuspect(p peer.ID) bool { return r.live != nil && r.live.IsSuspect(p) }

// closestCacheTTL bounds how long a cached neighbourhood is trusted: peers
// can join near a key without entering this node's routing table (when the
// bucket covering it is full). The holders nearest to such a peer do see it
// join, so the key's repair duty is not delayed by this.
const closestCacheTTL = 5 * time.Minute

// closestCacheSize bounds the cache; it is cleared when full.
const closestCacheSize = 1 << 14

// closestCache remembers recent closest answers, invalidated as a whole by
// every routing-table change.
type closestCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]cachedPeers
}

type cachedPeers struct {
	gen   uint64
	n     int
	at    time.Time
	peers []peer.ID
}

// invalidate drops every cached answer (the routing table changed).
func (c *closestCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

func (c *closestCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *closestCache) get(key string, n int) ([]peer.ID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.gen != c.gen || e.n != n || time.Since(e.at) > closestCacheTTL {
		return nil, false
	}
	return slices.Clone(e.peers), true
}

// put stores an answer computed at generation gen, unless the table changed since.
func (c *closestCache) put(key string, n int, gen uint64, peers []peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= closestCacheSize {
		c.entries = make(map[string]cachedPeers)
	}
	c.entries[key] = cachedPeers{gen: gen, n: n, at: time.Now(), peers: slices.Clone(peers)}
}
