package replication

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
)

// antiEntropySweeps is how many sweeps apart anti-entropy runs (every 30 s
// at the default 10 s interval). It catches what no routing event shows: a
// holder that lost records on disk, refused a write (busy, full) or missed
// one; deaths and joins are repaired at once by the region planner. Every
// third sweep keeps an idle network's repair traffic at a third while
// bounding such a gap at three intervals.
const antiEntropySweeps = 3

// Anti-entropy: every antiEntropySweeps sweeps, this node syncs (sync.go)
// the regions it holds (keyspace.go) with their other holders, all the
// prefixes it shares with one peer in one session. Each pair syncs once a round: the node with the
// lower peer ID starts the session. In steady state a session is one round
// trip of a few bytes per shared region, whatever the key count; a holder
// that missed records gets them, and one that has records its partners
// lack pushes them.

// regionPartners returns, for each peer that shares regions with this node
// and whose ID is higher, the prefixes of those regions.
func regionPartners(self peer.ID, rs []region) map[peer.ID][]prefix {
	out := map[peer.ID][]prefix{}
	for _, r := range rs {
		if !slices.Contains(r.holders, self) {
			continue
		}
		for _, h := range r.holders {
			if h > self {
				out[h] = append(out[h], r.prefix)
			}
		}
	}
	return out
}

// antiEntropy syncs this node's regions rs (those of the routing table, as
// the sweep's pass computed them) with their other holders, repairWorkers
// sessions at a time.
func (m *Manager) antiEntropy(ctx context.Context, rs []region) {
	partners := regionPartners(m.self, rs)
	peers := slices.Sorted(maps.Keys(partners))
	var bytes, differed atomic.Int64
	defer func() {
		m.logger.Debug("anti-entropy round", "sessions", len(peers), "differed", differed.Load(), "bytes", bytes.Load())
	}()
	forEachBounded(ctx, len(peers), func(i int) {
		p := peers[i]
		res, err := m.ranges.syncRanges(ctx, p, partners[p])
		bytes.Add(res.bytes)
		if res.rounds > 1 {
			differed.Add(1)
		}
		m.repairs.Add(uint64(res.sent + res.received))
		if err != nil {
			m.logger.Debug("anti-entropy sync failed", "peer", p, "error", err)
			return
		}
		if res.rounds > 1 { // something differed
			m.logger.Debug("anti-entropy sync", "peer", p, "prefixes", len(partners[p]), "sent", res.sent, "received", res.received, "bytes", res.bytes, "rounds", res.rounds, "equal", res.equal)
		}
	})
}
