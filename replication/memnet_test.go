package replication

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// memNet is an in-memory network of Managers, for deterministic tests of
// the replication protocols without libp2p (style guide: an in-memory
// Sender with cut/stall, as raft's network). Each node has a real Store on
// an in-memory datastore and a fixed view of the network (its routing
// table); a request to a node is served from its store, after the same
// holder check as the record protocol's: a node that knows k peers nearer
// the key than itself answers a holder request with a referral to them.
type memNet struct {
	t     testing.TB
	k     int
	nodes map[peer.ID]*memNode
	order []peer.ID // in creation order

	mu       sync.Mutex
	down     map[peer.ID]bool // requests to it fail at once
	stalled  map[peer.ID]bool // requests to it never answer (until their context ends)
	requests map[string]int   // "op peer-index", counted
	moved    int              // records moved by range syncs

	// bucket, when set, is the k-bucket size of the nodes' routing tables
	// (kadnet_test.go): closest then asks the network, as router.closest
	// does, where the bucket covering the key is full.
	bucket int
}

type memNode struct {
	id    peer.ID
	priv  crypto.PrivKey
	store *Store
	known []peer.ID // its routing table
	m     *Manager
}

// newMemNet starts n Managers with factor k, each knowing every other node.
// cfg may adjust their configuration.
func newMemNet(t *testing.T, n, k int, cfg func(*Config)) *memNet {
	return newMemNetOn(t, n, k, cfg, func() *Store { return newMemStore(t, NewValidator(1024)) })
}

// memExactNodes: up to this many nodes a memNet's regions are all exact
// (there are 2^tieSplits prefixes of tieSplits bits for the nodes to
// differ in).
const memExactNodes = 1 << (tieSplits - 1)

// tiedWithAny reports whether p's kad ID shares tieSplits bits with one of
// others': among peers none of which does, every region is exact.
func tiedWithAny(p peer.ID, others []peer.ID) bool {
	return slices.ContainsFunc(others, func(q peer.ID) bool {
		return commonBits(kb.ConvertPeerID(p), kb.ConvertPeerID(q)) >= tieSplits
	})
}

// newMemNetOn is newMemNet with each node's store from newStore.
func newMemNetOn(t testing.TB, n, k int, cfg func(*Config), newStore func() *Store) *memNet {
	return newMemNetFrom(t, n, k, cfg, newStore, rand.Reader)
}

// newMemNetFrom is newMemNetOn with the nodes' keys drawn from keys: a
// seeded stream makes the network's peer IDs, and so its regions and
// tables, the same in every run (kadnet_test.go replays a seed).
func newMemNetFrom(t testing.TB, n, k int, cfg func(*Config), newStore func() *Store, keys io.Reader) *memNet {
	net := &memNet{t: t, k: k, nodes: map[peer.ID]*memNode{}, down: map[peer.ID]bool{}, stalled: map[peer.ID]bool{}, requests: map[string]int{}}
	for len(net.order) < n {
		// From a seed, not GenerateEd25519Key's reader: crypto may
		// ignore a caller's reader (Go 1.26's cryptocustomrand).
		seed := make([]byte, ed25519.SeedSize)
		if _, err := io.ReadFull(keys, seed); err != nil {
			t.Fatal(err)
		}
		priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		// In a small network the regions among the nodes, and among any
		// of them, are exact (none held by more than k: tieSplits): no
		// two kad IDs share tieSplits bits. The tests of repair count
		// the records and sessions exact regions move; regions held by
		// more than k have tests of their own, and the simulations of
		// hundreds of nodes (kadnet) meet them.
		if n <= memExactNodes && tiedWithAny(id, net.order) {
			continue
		}
		net.nodes[id] = &memNode{id: id, priv: priv, store: newStore()}
		net.order = append(net.order, id)
	}
	for _, nd := range net.nodes {
		nd.known = slices.DeleteFunc(slices.Clone(net.order), func(p peer.ID) bool { return p == nd.id })
		c := Config{Factor: k, RepairInterval: time.Hour}
		if cfg != nil {
			cfg(&c)
		}
		nd.m = newManager(c, nd.id, nd.priv, nd.store, &memRouter{net: net, self: nd.id}, &memTransport{net: net, self: nd.id}, slog.New(slog.DiscardHandler))
		nd.m.secondDelay = 0   // passes run one after another here
		nd.m.syncRetries = nil // tests of retries set them
		nd.m.ranges = &countingSyncer{net: net, m: nd.m}
		t.Cleanup(func() { _ = nd.m.Close() })
	}
	return net
}

// byDistance returns the nodes nearest the key first.
func (net *memNet) byDistance(key string) []peer.ID {
	return kb.SortClosestPeers(slices.Clone(net.order), kb.ConvertKey(DHTKey(key)))
}

func (net *memNet) node(p peer.ID) *memNode { return net.nodes[p] }

func (net *memNet) set(m map[peer.ID]bool, p peer.ID, on bool) {
	net.mu.Lock()
	defer net.mu.Unlock()
	m[p] = on
}

// count returns how many op requests p was sent.
func (net *memNet) count(op string, p peer.ID) int {
	net.mu.Lock()
	defer net.mu.Unlock()
	return net.requests[op+" "+string(p)]
}

// store writes a signed record with the given version, written two hours
// ago, straight into p's store.
func (net *memNet) store(p peer.ID, key, value string, version uint64) *Record {
	net.t.Helper()
	r := signed(net.t, net.node(net.order[0]).priv, Record{Key: key, Value: []byte(value), Version: version, WrittenAt: time.Now().Add(-2 * time.Hour).UnixNano()})
	if _, err := net.node(p).store.Put(context.Background(), r); err != nil {
		net.t.Fatal(err)
	}
	return r
}

// version returns the version of key p stores, 0 if none.
func (net *memNet) version(p peer.ID, key string) uint64 {
	net.t.Helper()
	r, err := net.node(p).store.Get(context.Background(), key)
	if err != nil {
		net.t.Fatal(err)
	}
	if r == nil {
		return 0
	}
	return r.Version
}

// nearer returns the k peers p knows nearer the DHT key than itself, if it
// knows k of them: then p is not one of the key's holders.
func (net *memNet) nearer(p peer.ID, dhtKey string) []peer.ID {
	return net.nearerN(p, dhtKey, net.k)
}

// nearerN returns the n peers p knows nearer the DHT key than itself, if it
// knows n of them.
func (net *memNet) nearerN(p peer.ID, dhtKey string, n int) []peer.ID {
	var out []peer.ID
	for _, q := range kb.SortClosestPeers(slices.Clone(net.node(p).known), kb.ConvertKey(dhtKey)) {
		if kb.Closer(q, p, dhtKey) {
			out = append(out, q)
		}
	}
	if len(out) < n {
		return nil
	}
	return out[:n]
}

// memRouter is a node's view of the network: its fixed routing table.
type memRouter struct {
	net  *memNet
	self peer.ID
	// afterTable, if set, runs once, after the next tablePeers read the
	// table: what a routing event that arrives just then does.
	afterTable func()
	// suspect are the peers this node suspects dead: tablePeers leaves
	// them out, as router.tablePeers does.
	suspect map[peer.ID]bool
}

func (r *memRouter) closest(ctx context.Context, dhtKey string, n int) []peer.ID {
	target := kb.ConvertKey(dhtKey)
	if r.net.bucket == 0 || !r.net.bucketFull(r.self, target) {
		return r.localClosest(target, n)
	}
	peers, _ := r.lookup(ctx, dhtKey, n)
	return peers
}

// memLookupBytes is what a memRouter lookup counts as its bytes.
const memLookupBytes = 1000

func (r *memRouter) lookup(_ context.Context, dhtKey string, n int) ([]peer.ID, int) {
	target := kb.ConvertKey(dhtKey)
	return r.net.refine(r.self, target, r.localClosest(target, n+lookupWidth), n), memLookupBytes
}

func (r *memRouter) localClosest(target kb.ID, n int) []peer.ID {
	peers := kb.SortClosestPeers(append(slices.Clone(r.net.node(r.self).known), r.self), target)
	return peers[:min(n, len(peers))]
}

func (r *memRouter) candidates(dhtKey string, k int) *candidateSet {
	target := kb.ConvertKey(dhtKey)
	near := kb.SortClosestPeers(slices.Clone(r.net.node(r.self).known), target)
	return newCandidateSet(indexed(r.self), target, k, mapSlice(near[:min(k+lookupWidth, len(near))], indexed))
}

// filter drops nothing, but in a network with Kademlia tables
// (kadnet_test.go), where it drops the peers that are down, as
// router.filter drops the peers suspected dead.
func (r *memRouter) filter(ps []peer.ID) []peer.ID {
	if r.net.bucket == 0 {
		return ps
	}
	r.net.mu.Lock()
	defer r.net.mu.Unlock()
	return slices.DeleteFunc(ps, func(p peer.ID) bool { return r.net.down[p] })
}
func (r *memRouter) invalidate()    {}
func (r *memRouter) tableSize() int { return len(r.net.node(r.self).known) }
func (r *memRouter) tablePeers() []peer.ID {
	peers := slices.DeleteFunc(slices.Clone(r.net.node(r.self).known), func(p peer.ID) bool { return r.suspect[p] })
	if f := r.afterTable; f != nil {
		r.afterTable = nil
		f()
	}
	return peers
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// memTransport sends a node's requests over the memNet: each is served by
// the target's own local transport, after the failure rules and the holder
// check.
type memTransport struct {
	net  *memNet
	self peer.ID
	bad  atomic.Uint64
}

var errDown = errors.New("peer unreachable")

// at returns the transport that serves a request to p, after counting it,
// failing it if p is down, holding it until ctx ends if p is stalled, and,
// for a holder request (key set), answering with a referral if p is not a
// holder.
func (t *memTransport) at(ctx context.Context, op string, p peer.ID, holderKey string) (*transport, error) {
	net := t.net
	net.mu.Lock()
	net.requests[op+" "+string(p)]++
	down, stalled := net.down[p], net.stalled[p]
	net.mu.Unlock()
	switch {
	case p == t.self:
	case down:
		return nil, errDown
	case stalled:
		<-ctx.Done()
		return nil, ctx.Err()
	case holderKey != "":
		if nearer := net.nearer(p, DHTKey(holderKey)); nearer != nil {
			return nil, &errNotHolder{peer: p, nearer: nearer}
		}
	}
	return &transport{self: p, store: net.node(p).store}, nil
}

func (t *memTransport) fetch(ctx context.Context, p peer.ID, key string) (*Record, error) {
	tr, err := t.at(ctx, "fetch", p, "")
	if err != nil {
		return nil, err
	}
	return tr.fetch(ctx, p, key)
}

func (t *memTransport) read(ctx context.Context, p peer.ID, key string) (*Record, error) {
	tr, err := t.at(ctx, "read", p, key)
	if err != nil {
		return nil, err
	}
	return tr.read(ctx, p, key)
}

func (t *memTransport) push(ctx context.Context, p peer.ID, r *Record) error {
	tr, err := t.at(ctx, "push", p, "")
	if err != nil {
		return err
	}
	return tr.push(ctx, p, r)
}

func (t *memTransport) write(ctx context.Context, p peer.ID, r *Record) error {
	tr, err := t.at(ctx, "write", p, r.Key)
	if err != nil {
		return err
	}
	return tr.write(ctx, p, r)
}

func (t *memTransport) conditional(ctx context.Context, p peer.ID, r *Record, op byte) (*Record, error) {
	name := "create"
	if op == opSwap {
		name = "swap"
	}
	tr, err := t.at(ctx, name, p, r.Key)
	if err != nil {
		return nil, err
	}
	return tr.conditional(ctx, p, r, op)
}

func (t *memTransport) createMany(ctx context.Context, p peer.ID, recs []*Record) ([]*Record, []error) {
	have, errs := make([]*Record, len(recs)), make([]error, len(recs))
	for i, r := range recs {
		have[i], errs[i] = t.conditional(ctx, p, r, opCreate)
	}
	return have, errs
}

func (t *memTransport) badAnswers() uint64 { return t.bad.Load() }

func (t *memTransport) misbehaved(peer.ID) { t.bad.Add(1) }

// openSync returns a session whose requests are served by p's Manager, after
// the failure rules (each request counts as one "sync").
func (t *memTransport) openSync(ctx context.Context, p peer.ID) (syncConn, error) {
	if _, err := t.at(ctx, "sync", p, ""); err != nil {
		return nil, err
	}
	return &memSync{t: t, to: p, sess: t.net.node(p).m.serveSession(t.self)}, nil
}

type memSync struct {
	t    *memTransport
	to   peer.ID
	sess *syncServed // p's side of the session
}

func (c *memSync) roundTrip(ctx context.Context, req []byte) ([]byte, error) {
	if _, err := c.t.at(ctx, "sync", c.to, ""); err != nil {
		return nil, err
	}
	return c.sess.serve(req), nil
}

func (c *memSync) close() { c.sess.end() }

func (t *memTransport) close() {}

// countingSyncer is a node's own range sync (sync.go, over the memNet)
// that counts the syncs the node starts ("sync-by") and the records they
// moved.
type countingSyncer struct {
	net *memNet
	m   *Manager
}

func (c *countingSyncer) syncRanges(ctx context.Context, p peer.ID, ps []prefix, mode syncMode) (syncResult, error) {
	res, err := c.m.syncRanges(ctx, p, ps, mode)
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	c.net.requests["sync-by "+string(c.m.self)]++
	if err != nil || !res.equal && !res.handedOff {
		c.net.requests["sync-failed"]++
	}
	c.net.moved += res.sent + res.received
	c.net.requests["sync-sent"] += res.sent
	c.net.requests["sync-received"] += res.received
	return res, err
}
