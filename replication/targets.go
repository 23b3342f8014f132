package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Repair targets beyond the routing table. A pass plans its syncs and
// hand-offs from the regions of its routing table (plan.go), which are
// exact only where the table knows every peer near the range. In a large
// network a table is a Kademlia table: it may lack a peer near a range this
// node holds (a peer it never met, or one that joined since), and then
// the plan syncs the range with a peer that is not one of its true holders
// (that peer refuses the records, or keeps a misplaced copy), misses a true
// holder, or hands the range off to the wrong peers and drops it.
//
// So before a pass runs its plan, it checks the holders of each range the
// plan touches with a lookup of one key of the range (the first record
// this node has there; a range where it has none has nothing to hand on):
// one lookup per planned range (repairWorkers at a time), never per key,
// and none when the plan is empty. Where the lookups found peers the table lacks, the regions of the
// table and the found peers together replace the table's in the planned
// ranges they change: there the pass syncs the range with each of its
// corrected holders (which may all lack it), and hands it off (syncs, then
// drops once each sync ended equal) if this node is not one of them. Ranges
// the lookups confirm keep the plan's syncs, with the new holders only.
//
// A pass plans nothing for a range whose holders its table shows no
// change in: an old holder whose table lacks a peer that joined near its
// ranges keeps its copies there (misplaced, where the joiner displaced it)
// and never syncs them to the joiner. So each sweep also probes a few of
// the regions this node holds that its plan does not touch (probeRegions
// of them, the next ones in key-space order after the last sweep's): one
// lookup each, which learns the peers near the region the table lacks
// (below); the next pass sees them as peers that joined, and syncs or
// hands off accordingly.
//
// The peers found that way are learned: later passes (and so anti-entropy,
// which syncs the regions of the last pass) compute their regions from the
// routing table and the learned peers, so that a node whose table lacks a
// peer near its ranges does not go on taking itself, or another, for a
// holder there. A learned peer is forgotten once the table has it, when
// the router suspects it dead, or when a sync with it fails; at most
// maxLearned are kept, the oldest forgotten first.

// maxLearned bounds the learned peers (a few lookups' worth).
const maxLearned = 256

// learnedPeers returns the learned peers to add to table (the routing
// table's peers), after forgetting those table has and those filter drops
// (suspected dead).
func (s *sweepState) learnedPeers(table []peer.ID, filter func([]peer.ID) []peer.ID) []peer.ID {
	s.learned = slices.DeleteFunc(s.learned, func(p peer.ID) bool { return slices.Contains(table, p) })
	s.learned = filter(s.learned)
	return slices.Clone(s.learned)
}

// learnedSince returns the learned peers the regions of the last pass
// lack: those learned since (regionInput.learned).
func (s *sweepState) learnedSince() map[peer.ID]bool {
	if s.regions == nil {
		return nil
	}
	before := regionPeers(s.regions)
	out := map[peer.ID]bool{}
	for _, p := range s.learned {
		if !before[p] {
			out[p] = true
		}
	}
	return out
}

// learn adds found peers to the learned ones.
func (s *sweepState) learn(found []peer.ID) {
	for _, p := range found {
		if !slices.Contains(s.learned, p) {
			s.learned = append(s.learned, p)
		}
	}
	if n := len(s.learned) - maxLearned; n > 0 {
		s.learned = slices.Delete(s.learned, 0, n)
	}
}

// forget drops peers from the learned ones.
func (s *sweepState) forget(peers []peer.ID) {
	s.learned = slices.DeleteFunc(s.learned, func(p peer.ID) bool { return slices.Contains(peers, p) })
}

// probeRegions is how many of the regions this node holds a sweep probes:
// at most that many lookups (one FIND_NODE round each) per sweep at rest.
// A node holds about 4k regions whatever the size of the network (a few
// times as many regions as peers, k holders each: regions in keyspace.go),
// so each is probed every 4k/probeRegions sweeps (8 at k = 8: 80 s at the
// default repair_interval).
const probeRegions = 4

// probes returns the prefixes of the next probeRegions regions of cur that
// self holds, in key-space order from the probe cursor (wrapping around),
// and moves the cursor past them; all of them if self holds no more. It
// also returns how many such rounds probe every region self holds once.
func (s *sweepState) probes(cur []region, self peer.ID) ([]prefix, int) {
	var held []prefix
	for _, r := range cur {
		if slices.Contains(r.holders, self) {
			held = append(held, r.prefix)
		}
	}
	if len(held) <= probeRegions {
		s.probeCursor = nil
		return held, 1
	}
	i, _ := slices.BinarySearchFunc(held, s.probeCursor, func(p prefix, c []byte) int { return bytes.Compare(p.id[:], c) })
	out := make([]prefix, probeRegions)
	for j := range out {
		out[j] = held[(i+j)%len(held)]
	}
	s.probeCursor = after(out[len(out)-1].id[:])
	return out, (len(held) + probeRegions - 1) / probeRegions
}

// Probes back off at rest. A round of probes that learns no peer confirms
// what the table shows; on a network at rest every round does, and the
// probes' lookups were then most of a node's repair traffic: 4 lookups a
// sweep, 24 a minute at the default repair_interval, an answer of about a
// kilobyte each (20 peers' IDs and addresses). So once a whole rotation
// (every region this node holds probed once: rotation rounds, and at least
// minProbeRounds) has learned nothing, the sweeps probe less often: after
// each further round that learns nothing they skip 1, 2, 4, 8, then
// maxProbeSkip sweeps before the next round. A peer that may hold a region
// this node's table misses brings the full rate back (resetProbes): a
// probe that learns a peer, a pass that sees a peer join (a peer of its
// table or a learned one that the last pass's regions lacked, or one that
// left and came back) or whose lookups of planned ranges found peers
// (retarget). A departure alone does not, nor the syncs and hand-offs it
// plans: the ranges a leaver held are planned, and retarget looks up their
// holders; the probes are for the regions no plan touches, where a joiner
// may be that the table lacks. (Resetting at a departure too, every node
// probed at full rate for a rotation after each death: on 10 nodes, after
// a SIGKILL, about 20 KB of lookups per node a minute for 80 to 100 s, the
// repair bytes of a quiet minute right after the network recovered.)
//
// The bound this keeps: a joiner that this node's table lacks, and whose
// join changed nothing here, is found by the probe of its region within
// one rotation at the backed-off rate: at most (maxProbeSkip+1)·rotation
// sweeps (17·8 = 136 sweeps, about 23 min, at k = 8 and the default
// repair_interval), and within max(rotation, minProbeRounds) sweeps (80 s)
// if it joins that soon after the last change this node saw. Most old
// holders see the join itself (the joiner's self-lookup reaches the peers
// nearest it, which add it to their tables): that is a table change, and
// their passes plan the syncs at once.

// maxProbeSkip bounds the sweeps skipped between two rounds of probes.
const maxProbeSkip = 16

// minProbeRounds is the least number of rounds, one a sweep, that follow a
// reset before the probes back off, however few regions this node holds:
// the peers' tables take a few sweeps to follow a change (refills, their
// own passes' lookups), and a node holding 4 regions or fewer would back
// off from the second sweep after it. With it, the kadnet simulation's
// sweeps after an event (7 at most) probe as they did before the back-off.
// (Without it, 20 deaths among 300 nodes left 2, 21, 4 and 5 of 2,000 keys
// short of a true holder after six sweeps in 4 runs; before the back-off
// 0, 0, 0, 0, 11 and 0 in 6 runs: the simulation's noise is of that order.)
const minProbeRounds = 8

// probeDue reports whether this sweep probes, and counts down the sweeps
// to skip.
func (s *sweepState) probeDue() bool {
	if s.probeSkip > 0 {
		s.probeSkip--
		return false
	}
	return true
}

// probed records a round of probes: whether it learned a peer, and how
// many rounds a rotation takes (probes).
func (s *sweepState) probed(learned bool, rotation int) {
	if learned {
		s.resetProbes()
		return
	}
	s.probeIdle++
	if over := s.probeIdle - max(rotation, minProbeRounds); over > 0 {
		s.probeSkip = min(1<<min(over-1, 16), maxProbeSkip)
	}
}

// resetProbes brings the probes back to every sweep, for a rotation at
// least.
func (s *sweepState) resetProbes() { s.probeIdle, s.probeSkip = 0, 0 }

// probe looks up the holders of the prefixes ps that plan does not touch
// (retarget looks those up), one lookup of probeWidth peers each, and
// returns the peers found that peers (the table and the learned ones,
// this node) lacks.
func (m *Manager) probe(ctx context.Context, ps []prefix, plan regionPlan, peers []peer.ID) []peer.ID {
	planned := slices.Clone(plan.handOffs)
	for _, j := range plan.syncs {
		planned = append(planned, j.prefixes...)
	}
	ps = slices.DeleteFunc(ps, func(p prefix) bool {
		return slices.ContainsFunc(planned, func(q prefix) bool { return overlaps(p, q) })
	})
	known := map[peer.ID]bool{}
	for _, p := range peers {
		known[p] = true
	}
	return slices.Collect(maps.Keys(m.lookupHolders(ctx, ps, known, probeWidth*m.cfg.Factor)))
}

// probeWidth: a probe keeps the probeWidth·k peers nearest its key that
// the lookup found (one FIND_NODE round answers with a bucket of them), so
// that it learns the peers near the whole region, not only the holders of
// its key.
const probeWidth = 2

// retarget corrects plan, made from the regions of peers (the routing
// table, and this node unless it leaves), where lookups of its ranges find
// holders peers lacks; it returns those it found.
func (m *Manager) retarget(ctx context.Context, plan regionPlan, peers []peer.ID) (regionPlan, []peer.ID) {
	ranges := slices.Clone(plan.handOffs)
	for _, j := range plan.syncs {
		ranges = append(ranges, j.prefixes...)
	}
	ranges = coarsest(ranges)
	known := map[peer.ID]bool{}
	for _, p := range peers {
		known[p] = true
	}
	found := m.lookupHolders(ctx, ranges, known, m.cfg.Factor)
	if len(found) == 0 {
		return plan, nil
	}
	wide := regions(append(slices.Collect(maps.Keys(known)), slices.Collect(maps.Keys(found))...), m.cfg.Factor)
	// The pieces of the planned ranges whose holders include a found peer:
	// there the table's regions were wrong.
	var wrong []region
	for _, r := range ranges {
		for _, w := range wide {
			if overlaps(r, w.prefix) && slices.ContainsFunc(w.holders, func(h peer.ID) bool { return found[h] }) {
				wrong = append(wrong, region{prefix: finer(r, w.prefix), holders: w.holders})
			}
		}
	}
	if len(wrong) == 0 {
		return plan, nil
	}
	m.logger.Debug("repair: lookups corrected the holders of planned ranges", "ranges", len(wrong), "peers", len(found))
	wrongPrefixes := make([]prefix, len(wrong))
	for i, w := range wrong {
		wrongPrefixes[i] = w.prefix
	}
	jobs := map[peer.ID][]prefix{}
	for _, j := range plan.syncs {
		jobs[j.peer] = without(j.prefixes, wrongPrefixes)
	}
	handOffs := without(plan.handOffs, wrongPrefixes)
	for _, w := range wrong {
		for _, h := range w.holders {
			if h != m.self {
				jobs[h] = append(jobs[h], w.prefix)
			}
		}
		if !slices.Contains(w.holders, m.self) {
			handOffs = append(handOffs, w.prefix)
		}
	}
	out := planOf(jobs, handOffs)
	out.seconds, out.checks, out.verify = plan.seconds, plan.checks, plan.verify
	return out, slices.Collect(maps.Keys(found))
}

// firstKey returns the key of this node's first record in p, if it has one.
func (m *Manager) firstKey(ctx context.Context, p prefix) (string, bool) {
	lo, hi := p.bounds()
	var key string
	err := m.store.EachInRange(ctx, lo, hi, func(_ []byte, r *Record, _ int) error {
		key = r.Key
		return errChunkDone
	})
	return key, key != "" && (err == nil || errors.Is(err, errChunkDone))
}

// without returns the parts of the prefixes ps that lie in none of cut:
// each prefix of ps that some prefix of cut lies in, split into the
// coarsest prefixes around them.
func without(ps, cut []prefix) []prefix {
	var out []prefix
	var split func(p prefix)
	split = func(p prefix) {
		inside := false
		for _, c := range cut {
			if c.contains(p.id[:]) && c.bits <= p.bits {
				return // p lies in c
			}
			inside = inside || overlaps(p, c)
		}
		if !inside {
			out = append(out, p)
			return
		}
		split(p.child(0))
		split(p.child(1))
	}
	for _, p := range ps {
		split(p)
	}
	return out
}

// lookupHolders looks up the n closest peers of each range (of the first
// key this node has there), repairWorkers at a time, and returns those
// found that known lacks. A peer this node doubts is not taken: one it has
// just evicted is still in the tables of the peers that have not yet (a
// sync with it would fail, and its ranges wait for the next sweep).
func (m *Manager) lookupHolders(ctx context.Context, ranges []prefix, known map[peer.ID]bool, n int) map[peer.ID]bool {
	answers := make([][]peer.ID, len(ranges))
	forEachBounded(ctx, len(ranges), func(i int) {
		if key, ok := m.firstKey(ctx, ranges[i]); ok {
			m.lookups.Add(1)
			var bytes int
			answers[i], bytes = m.router.lookup(ctx, DHTKey(key), n)
			m.lookupBytes.Add(uint64(bytes))
		}
	})
	found := map[peer.ID]bool{}
	for _, ps := range answers {
		for _, p := range ps {
			if !known[p] && p != m.self && (m.doubted == nil || !m.doubted(p)) {
				found[p] = true
			}
		}
	}
	return found
}

// verifiedTTL is how long the holders of a range that an anti-entropy
// round's lookup confirmed stay confirmed while the routing table and the
// learned peers do not change (sweepState.unverified): at rest a round's
// lookups then run about once in verifiedTTL instead of at every idle
// round (antiEntropyIdleRounds), and the probes (probeRegions) still look
// for peers the table lacks meanwhile.
const verifiedTTL = 30 * time.Minute

// unverified returns the ranges of rs whose holders no lookup confirmed
// within verifiedTTL before now among the peers whose key is peers
// (peersKey: the table's and the learned ones); confirmations made among
// other peers are forgotten.
func (s *sweepState) unverified(rs []prefix, peers [32]byte, now time.Time) []prefix {
	if peers != s.verifiedPeers {
		s.verified, s.verifiedPeers = nil, peers
	}
	return slices.DeleteFunc(rs, func(p prefix) bool {
		at, ok := s.verified[p]
		return ok && now.Sub(at) < verifiedTTL
	})
}

// confirmed records that lookups made at now confirmed the holders of rs.
func (s *sweepState) confirmed(rs []prefix, now time.Time) {
	if s.verified == nil {
		s.verified = map[prefix]time.Time{}
	}
	for _, p := range rs {
		s.verified[p] = now
	}
}

// peersKey is a digest of a set of peers.
func peersKey(peers map[peer.ID]bool) [32]byte {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(peers)) {
		h.Write([]byte(p))
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verifyPartners checks the holders of the regions an anti-entropy round is
// about to sync (due, from the regions rs of the last pass) as retarget
// checks a pass's plan: one lookup per region (of the first key this node
// has there), repairWorkers at a time, and only for the sessions due (none
// at rest but the idle ones) and the ranges no lookup confirmed since the
// table last changed (unverified). A node whose table lacks peers near its
// ranges may take itself, or a partner, for a holder of a region that it
// is not: its sessions there would pull copies it does not hold and push
// them to a peer that does not either, and each pass's walk drop them
// again. Where the lookups find peers rs lacks, the sessions keep only the
// parts of their prefixes that both this node and the partner hold among
// rs's peers and the found ones; the found peers are learned, so that the
// next pass hands off what this node does not hold and syncs the new
// holders.
func (m *Manager) verifyPartners(ctx context.Context, rs []region, due []partnerRound) []partnerRound {
	var ranges []prefix
	for _, pr := range due {
		ranges = append(ranges, pr.prefixes...)
	}
	ranges = coarsest(ranges)
	known := regionPeers(rs)
	known[m.self] = true
	now := time.Now()
	ranges = m.sweeps.unverified(ranges, peersKey(known), now)
	found := m.lookupHolders(ctx, ranges, known, m.cfg.Factor)
	if len(found) == 0 {
		m.sweeps.confirmed(ranges, now)
		return due
	}
	m.sweeps.learn(slices.Collect(maps.Keys(found)))
	wide := regions(append(slices.Collect(maps.Keys(known)), slices.Collect(maps.Keys(found))...), m.cfg.Factor)
	var out []partnerRound
	for _, pr := range due {
		var keep []prefix
		changed := false
		for _, p := range pr.prefixes {
			var parts []prefix
			all := true
			for _, w := range wide {
				if !overlaps(p, w.prefix) {
					continue
				}
				if slices.Contains(w.holders, m.self) && slices.Contains(w.holders, pr.peer) {
					parts = append(parts, finer(p, w.prefix))
				} else {
					all = false
				}
			}
			if all {
				keep = append(keep, p)
			} else {
				keep, changed = append(keep, parts...), true
			}
		}
		if !changed {
			out = append(out, pr)
			continue
		}
		m.logger.Debug("anti-entropy: lookups corrected the holders of a partner's regions", "peer", pr.peer, "prefixes", len(pr.prefixes), "kept", len(keep))
		if len(keep) == 0 {
			continue
		}
		pr.prefixes, pr.key = coarsest(keep), prefixesKey(keep)
		var err error
		if _, pr.own, err = m.digests.digests(ctx, pr.prefixes); err != nil {
			continue
		}
		out = append(out, pr)
	}
	return out
}
