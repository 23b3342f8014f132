package replication

import (
	"context"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The Manager reaches the network through two small interfaces, so that its
// protocols (the CREATE round, quorum reads with hedging, referrals, repair)
// also run over an in-memory network in tests (memnet_test.go).

// holderRouter tells which peers hold a key, as this node knows them. router
// (peers.go) is the implementation over kad-dht's routing table.
type holderRouter interface {
	// closest returns up to n live peers nearest the DHT key in XOR
	// distance, this node included, nearest first. It may ask the network.
	closest(ctx context.Context, dhtKey string, n int) []peer.ID
	// lookup is closest asked of the network even where the routing
	// table's bucket has room (repair's check of its targets, targets.go):
	// one FIND_NODE round, of the bytes it also returns (request and
	// answer).
	lookup(ctx context.Context, dhtKey string, n int) ([]peer.ID, int)
	// localClosest is closest from the routing table alone.
	localClosest(target kb.ID, n int) []peer.ID
	// candidates returns the peers a client read or write of the DHT key
	// starts from: the k+lookupWidth nearest live peers and this node.
	candidates(dhtKey string, k int) *candidateSet
	// filter drops the peers suspected dead, reusing ps.
	filter(ps []peer.ID) []peer.ID
	// invalidate forgets cached answers: the routing table changed.
	invalidate()
	// tableSize is the number of peers in the routing table.
	tableSize() int
	// tablePeers returns the live peers of the routing table.
	tablePeers() []peer.ID
}

// rangeSyncer brings this node's and p's records in the prefixes ps to the
// same winners (both ways): the Manager's syncRanges (sync.go), or a test's
// wrapper of it.
type rangeSyncer interface {
	syncRanges(ctx context.Context, p peer.ID, ps []prefix, mode syncMode) (syncResult, error)
}

// holderTransport reads and writes one holder's copy of a record; this node
// is a holder like any other, its copy the local store. transport
// (transport.go) is the implementation over the record protocol. Requests
// made of p as one of the key's holders (read, write, create) may be
// answered with an *errNotHolder naming peers nearer the key.
type holderTransport interface {
	// fetch returns p's copy of the key, or nil if p has none; the record
	// is decoded but not verified.
	fetch(ctx context.Context, p peer.ID, key string) (*Record, error)
	// read is fetch asked of p as a holder.
	read(ctx context.Context, p peer.ID, key string) (*Record, error)
	// push stores r on p, which refuses (an error) a record older than its own.
	push(ctx context.Context, p peer.ID, r *Record) error
	// write is push asked of p as a holder.
	write(ctx context.Context, p peer.ID, r *Record) error
	// conditional stores r on p only if p has no record of its key
	// (opCreate) or only a lower version of it (opSwap), and returns the
	// record p has instead, if any.
	conditional(ctx context.Context, p peer.ID, r *Record, op byte) (*Record, error)
	// createMany is conditional(ctx, p, r, opCreate) for each of recs,
	// sent together (bulk.go); it returns each one's outcome, in order.
	createMany(ctx context.Context, p peer.ID, recs []*Record) ([]*Record, []error)
	// badAnswers counts the answers that carried a record failing
	// validation, or were malformed.
	badAnswers() uint64
	// misbehaved counts a bad answer from p (a record failing
	// validation, a malformed message) and leaves p out for a while.
	misbehaved(p peer.ID)
	// openSync opens a sync session with p (sync.go).
	openSync(ctx context.Context, p peer.ID) (syncConn, error)
	// close releases the connections, after every request; it may be
	// called more than once.
	close()
}
