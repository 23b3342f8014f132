package replication

import (
	"context"
	"crypto/sha256"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Anti-entropy: every antiEntropySweeps sweeps (a round), this node looks at
// the regions it holds (keyspace.go) and, for each other holder of some of
// them (a partner), decides whether to sync (sync.go) all the prefixes it
// shares with that partner, in one session. It catches what no routing event
// shows: a holder that missed a write, refused one (busy, full), or lost
// records; deaths and joins are repaired at once by the region planner
// (plan.go).
//
// A session that ends equal leaves both sides knowing the digest of the
// shared prefixes they agreed on (the initiator from its session, the
// responder from the request it answered "equal"). From then on, a node
// whose own digest of those prefixes is unchanged has nothing new to tell
// that partner, and one whose digest changed (a write, a record dropped or
// lost through the store, a different set of shared prefixes after a
// routing change) does. So, each round, for each partner:
//
//   - own digest changed since the last equal session (or none known): the
//     node with the lower peer ID syncs; the higher one syncs too unless a
//     session with that partner (either way) took place since its last
//     round, so that a pair both of whose sides change (writes going on)
//     costs one session a round, not two;
//   - unchanged: only the lower peer ID syncs, and only once
//     antiEntropyIdleRounds rounds passed since the pair's last session.
//
// Bounds (a round is antiEntropySweeps sweep intervals, 30 s by default).
// A difference that changes either holder's digest table (a write one
// holder missed or refused: the other holders' digests changed; records
// dropped or lost through the store) is found by the next round of a holder
// whose digest changed: within one round, but for one case, within two: only
// the higher peer ID's digest changed, and a session of the pair took place
// between that node's last round and the change. A restarted node knows no partner, so its first round syncs with
// every one. A difference neither digest table shows (records vanishing
// from under a running store) is found within antiEntropyIdleRounds rounds
// (4 min by default). At rest a node therefore opens about
// partners/2/antiEntropyIdleRounds sessions a round, each one round trip of
// a few bytes per shared prefix, whatever the key count; the state kept is
// one entry per partner.

// A round is postponed while the node takes part in a bulk repair (a
// routing change within the last round, or over antiEntropyBusyBytes of
// repair through it since the last sweep: antiEntropyDue in repair.go), by
// two rounds at most: the bounds above then hold from the round it runs.

// antiEntropySweeps is how many sweeps apart anti-entropy rounds run (every
// 30 s at the default 10 s interval).
const antiEntropySweeps = 3

// antiEntropyIdleRounds is how many rounds apart a pair whose shared ranges
// changed on neither side syncs (the bound on finding a difference neither
// digest table shows).
const antiEntropyIdleRounds = 8

// partnerState is what this node knows of its sessions with one partner.
type partnerState struct {
	// agreed: the last session ended equal over the prefixes of key
	// (prefixesKey), where both sides' digest was digest.
	agreed bool
	key    [32]byte
	digest rangeDigest
	// contact: a session with the partner (either way) took place since
	// this node's last round; since is how many rounds ago the last one
	// did, counting this one (1: the last round).
	contact bool
	since   int
}

// partnerStates is the anti-entropy state of one node: an entry per partner
// (and per peer whose session it answered since its last round).
type partnerStates struct {
	mu sync.Mutex
	m  map[peer.ID]*partnerState
}

// get returns p's state, creating it (mu held).
func (s *partnerStates) get(p peer.ID) *partnerState {
	if s.m == nil {
		s.m = map[peer.ID]*partnerState{}
	}
	st := s.m[p]
	if st == nil {
		st = &partnerState{}
		s.m[p] = st
	}
	return st
}

// ended records a session with p: agreed over the prefixes of key at
// digest, or not.
func (s *partnerStates) ended(p peer.ID, agreed bool, key [32]byte, digest rangeDigest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(p)
	st.contact, st.agreed, st.key, st.digest = true, agreed, key, digest
}

// partnerRound is what one round decides about one partner.
type partnerRound struct {
	peer     peer.ID
	prefixes []prefix
	key      [32]byte    // prefixesKey(prefixes)
	own      rangeDigest // this node's digest of prefixes now
}

// due starts a round: it forgets the peers that are not partners any more,
// and returns the partners to sync with now.
func (s *partnerStates) due(self peer.ID, partners []partnerRound) []partnerRound {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[peer.ID]bool{}
	var out []partnerRound
	for _, pr := range partners {
		keep[pr.peer] = true
		st := s.get(pr.peer)
		recent := st.contact
		st.contact = false
		if recent {
			st.since = 1
		} else {
			st.since++
		}
		unchanged := st.agreed && st.key == pr.key && st.digest == pr.own
		switch {
		case !unchanged && (self < pr.peer || !recent),
			unchanged && self < pr.peer && st.since >= antiEntropyIdleRounds:
			out = append(out, pr)
		}
	}
	maps.DeleteFunc(s.m, func(p peer.ID, _ *partnerState) bool { return !keep[p] })
	return out
}

// prefixesKey identifies a list of prefixes: the hash of their wire form
// (a fixed size, whatever a peer's request holds).
func prefixesKey(ps []prefix) [32]byte {
	var b []byte
	for _, p := range ps {
		b = appendPrefix(b, p)
	}
	return sha256.Sum256(b)
}

// regionPartners returns, for each other holder of regions this node holds,
// the prefixes of those regions, in key-space order.
func regionPartners(self peer.ID, rs []region) map[peer.ID][]prefix {
	out := map[peer.ID][]prefix{}
	for _, r := range rs {
		if !slices.Contains(r.holders, self) {
			continue
		}
		for _, h := range r.holders {
			if h != self {
				out[h] = append(out[h], r.prefix)
			}
		}
	}
	return out
}

// antiEntropy runs one round over this node's regions rs (those of the
// routing table, as the sweep's pass computed them): it syncs with the
// partners that are due, repairWorkers sessions at a time.
func (m *Manager) antiEntropy(ctx context.Context, rs []region) {
	if m.digests == nil {
		return
	}
	partners := regionPartners(m.self, rs)
	var round []partnerRound
	for _, p := range slices.Sorted(maps.Keys(partners)) {
		pr := partnerRound{peer: p, prefixes: partners[p], key: prefixesKey(partners[p])}
		var err error
		if _, pr.own, err = m.digests.digests(ctx, pr.prefixes); err != nil {
			m.logger.Debug("anti-entropy: digest", "peer", p, "error", err)
			return
		}
		round = append(round, pr)
	}
	due := m.verifyPartners(ctx, rs, m.partners.due(m.self, round)) // targets.go
	var bytes, differed atomic.Int64
	defer func() {
		m.logger.Debug("anti-entropy round", "partners", len(round), "sessions", len(due), "differed", differed.Load(), "bytes", bytes.Load())
	}()
	forEachBounded(ctx, len(due), func(i int) {
		pr := due[i]
		res, err := m.ranges.syncRanges(ctx, pr.peer, pr.prefixes, syncBoth)
		bytes.Add(res.bytes)
		m.repairs.Add(uint64(res.sent + res.received))
		if err != nil {
			m.logger.Debug("anti-entropy sync failed", "peer", pr.peer, "error", err)
			return
		}
		m.partners.ended(pr.peer, res.equal, pr.key, res.digest)
		if res.rounds > 1 { // something differed
			differed.Add(1)
			m.logger.Debug("anti-entropy sync", "peer", pr.peer, "prefixes", len(pr.prefixes), "sent", res.sent, "received", res.received, "bytes", res.bytes, "rounds", res.rounds, "equal", res.equal)
		}
	})
}
