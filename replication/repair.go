package replication

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// sweepState is what repair passes learned. The repair loop (run) owns
// regions, incomplete and cursor; mu guards the rest. Its size depends on
// the number of regions, never on the number of keys (plan.go).
type sweepState struct {
	// regions are those of the last pass; nil before the first.
	regions []region
	// incomplete are the prefixes whose last repair did not end equal with
	// every holder (or whose hand-off found it changed), with the records
	// this node had in each then (recordsIn).
	incomplete map[prefix]int
	// checks are the ranges the next sweep syncs with one peer each
	// (regionPlan.checks), gathered by the passes since the last sweep.
	checks map[peer.ID][]prefix
	// seen are the peers this node has seen in its routing table (at a
	// pass, or joining or leaving it between two) since it started, while
	// it settles; nil once it has settled. A peer of the table not in seen
	// is a first sighting (missed, plan.go).
	seen map[peer.ID]bool
	// learned are peers repair's lookups found near its ranges that the
	// routing table lacks (targets.go), oldest first.
	learned []peer.ID
	// probeCursor is the kad ID from which the next sweep picks the
	// regions it probes (targets.go; nil: the start of the key space).
	probeCursor []byte
	// probeIdle counts the rounds of probes in a row that learned
	// nothing, since the last resetProbes; probeSkip is how many sweeps
	// still skip their probes (targets.go).
	probeIdle, probeSkip int
	// verified are the ranges whose holders anti-entropy's lookups
	// confirmed, and when, among the peers whose key is verifiedPeers
	// (targets.go: unverified).
	verified      map[prefix]time.Time
	verifiedPeers [32]byte
	// cursor is the kad ID where the next sweep's store walk starts (nil:
	// the start of the key space); chunk is how many records it reads
	// (walkChunk).
	cursor []byte
	chunk  int
	// underReplicated is the pass's part of Stats.UnderReplicated: the
	// records of the ranges the running pass syncs, then the sum of the
	// incomplete counts.
	underReplicated atomic.Int64

	mu   sync.Mutex
	last time.Time
	// changedAt is when a peer last joined or left the routing table.
	changedAt time.Time
	// flapped are the peers that joined or left the table since the last
	// pass (at most the peers seen meanwhile, never keys): a peer that left
	// and came back before a pass leaves the regions as they were, but may
	// have missed writes while it was away.
	flapped map[peer.ID]bool
	// planning are the flapped peers the running pass took, until it has
	// counted the ranges it syncs (so that a departure counts from its
	// notice to the syncs' end without a gap: doubtedIn).
	planning map[peer.ID]bool
	// held are the regions of the last pass that this node holds, and
	// counted the prefixes underReplicated counts (coarsest): what
	// doubtedIn needs, a copy for Stats.
	held    []region
	counted []prefix
	// viewed are the peers of the last pass's regions (RepairSees).
	viewed map[peer.ID]bool
}

// noteChanged records a peer that joined or left the routing table.
func (s *sweepState) noteChanged(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flapped == nil {
		s.flapped = map[peer.ID]bool{}
	}
	s.flapped[p] = true
	s.changedAt = time.Now()
}

// gather waits for the rest of a burst of routing events that began at
// first: until quiet passed without another, but no longer than most after
// first (kickDelay and kickGatherMax once the node has settled). The deaths
// of a SIGKILL wave reach the table over about half a second (probes, then
// the refill lookups that find more dead peers): a pass that starts on the
// first of them leaves the others to a pass after it, which waits for all
// of its syncs. It reports false if ctx ended.
func (s *sweepState) gather(ctx context.Context, first time.Time, quiet, most time.Duration) bool {
	for {
		s.mu.Lock()
		last := s.changedAt
		s.mu.Unlock()
		wait := min(quiet-time.Since(last), most-time.Since(first))
		if wait <= 0 {
			return true
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
	}
}

// changedWithin reports whether a peer joined or left the routing table
// within d.
func (s *sweepState) changedWithin(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.changedAt.IsZero() && time.Since(s.changedAt) < d
}

// pending reports whether a peer changed since the last pass.
func (s *sweepState) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.flapped) > 0
}

// takeChanged returns and clears the peers noted since the last call; they
// count as planning until setCounted.
func (s *sweepState) takeChanged() map[peer.ID]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.flapped
	s.flapped = nil
	s.planning = out
	return out
}

// setCounted sets the pass's part of the under-replicated count: n records
// in the prefixes ps (coarsest); the planning peers are counted in them.
func (s *sweepState) setCounted(ps []prefix, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counted = ps
	s.planning = nil
	s.underReplicated.Store(int64(n))
}

// setHeld keeps the regions of cur that self holds, for doubtedIn, and the
// peers of cur, for RepairSees.
func (s *sweepState) setHeld(cur []region, self peer.ID) {
	var held []region
	for _, r := range cur {
		if slices.Contains(r.holders, self) {
			held = append(held, r)
		}
	}
	viewed := regionPeers(cur)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held = held
	s.viewed = viewed
}

// doubtedIn returns the prefixes of the regions this node holds (at the
// last pass) that another holder of may lack records: one doubted (its
// connections closed, or it failed a probe: doubted reports it, nil for
// none), or one that left or came back since that pass and whose departure
// no pass has counted yet (flapped, planning). Also the prefixes the pass
// counts, to be counted with them.
func (s *sweepState) doubtedIn(self peer.ID, doubted func(peer.ID) bool) (extra, counted []prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.held {
		if slices.ContainsFunc(r.holders, func(h peer.ID) bool {
			return h != self && (s.flapped[h] || s.planning[h] || doubted != nil && doubted(h))
		}) {
			extra = append(extra, r.prefix)
		}
	}
	return extra, slices.Clone(s.counted)
}

// missed returns the peers the plan takes for peers of the last pass's
// table although that pass did not see them (plan.go): the peers that
// joined and left the table between that pass and this one (in changed,
// not in table), and while the node settles the peers of table not in seen.
func (s *sweepState) missed(table []peer.ID, changed map[peer.ID]bool, settling bool) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	before := regionPeers(s.regions)
	for p := range changed {
		if !before[p] && !slices.Contains(table, p) {
			out[p] = true
		}
	}
	for _, p := range table {
		if settling && !s.seen[p] {
			out[p] = true
		}
	}
	return out
}

// see adds the peers of table and those that changed to seen.
func (s *sweepState) see(table []peer.ID, changed map[peer.ID]bool) {
	if s.seen == nil {
		s.seen = map[peer.ID]bool{}
	}
	for _, p := range table {
		s.seen[p] = true
	}
	maps.Copy(s.seen, changed)
}

// Stats summarises the records and repair work of this node.
type Stats struct {
	Records int
	Bytes   int64
	// UnderReplicated counts the records this node has in the ranges some
	// holder may lack: the regions it holds with a doubted peer (its last
	// connection closed, or it failed a probe, until it answers or
	// connects again) or with a peer that left the routing table, from
	// that moment until a pass plans the syncs; the ranges a pass syncs (a
	// holder left, a peer joined or came back, a stray, a retry) until
	// those end equal with every holder; after that the ranges whose syncs
	// failed, until a later pass brings them in (see recordsIn for how they
	// are counted; a record in two of these counts once). Once a pass
	// plans, only the survivors that sync a range count it. A silent death
	// (no connection reset) counts from its first failed probe.
	UnderReplicated int
	RepairsTotal    uint64
	ReadRepairs     uint64 // the part of RepairsTotal pushed by read repair
	AuditsTotal     uint64 // keys audited (every holder asked for its copy): writes whose pushes failed
	RepairLookups   uint64 // lookups of a range's holders (one FIND_NODE round each): planned ranges, probes (targets.go)
	RepairBytes     uint64 // sent and received by audits, hand-offs, sync sessions and repair's lookups
	// RepairLookupBytes is the part of RepairBytes (and of
	// RepairBytesSent) of repair's lookups: their FIND_NODE requests and
	// answers, as the node that ran them sent and received them.
	RepairLookupBytes uint64
	ReadsTotal        uint64    // quorum reads this node ran (gets, and the reads before writes)
	HedgedTotal       uint64    // extra holders those reads asked after a hedge delay
	BadAnswers        uint64    // holder answers whose record failed validation (forged, ...)
	PartialWrites     uint64    // writes that failed after some holders had stored them
	LastSweep         time.Time // zero before the first sweep
	// RepairBytesSent is the part of RepairBytes this node sent (sync
	// requests and answers, audit pushes), the records its audits fetched
	// (which the holders that answered do not count), and its lookups'
	// requests and answers (kad-dht serves them uncounted): summed over the
	// nodes, it counts each byte of repair traffic once.
	RepairBytesSent uint64
}

// Stats returns the record counts and the repair totals.
func (m *Manager) Stats() Stats {
	count, bytes := m.store.Counts()
	under := m.underReplicated(m.ctx)
	lookupBytes := m.lookupBytes.Load()
	s := &m.sweeps
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: count, Bytes: bytes, UnderReplicated: under,
		RepairsTotal: m.repairs.Load(), ReadRepairs: m.readFixes.Load(), AuditsTotal: m.audits.Load(), RepairLookups: m.lookups.Load(), RepairBytes: m.repairBytes.Load() + lookupBytes, RepairBytesSent: m.repairSent.Load() + lookupBytes, RepairLookupBytes: lookupBytes, ReadsTotal: m.reads.Load(), HedgedTotal: m.hedges.Load(), LastSweep: s.last,
		BadAnswers: m.tr.badAnswers(), PartialWrites: m.partials.Load()}
}

// RepairSees reports whether p is one of the peers the last repair pass
// that ran to its end computed its regions from: once a peer that joined
// is, or one that left is not, a pass has planned and run the syncs of
// that change (those that failed are incomplete, for the next passes).
func (m *Manager) RepairSees(p peer.ID) bool {
	s := &m.sweeps
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewed[p]
}

// underReplicated is Stats.UnderReplicated: the pass's count, or, while
// some region this node holds has a doubted or departed co-holder, the
// records of those regions and of the pass's prefixes together (from the
// digest counts: a few merges of in-memory digests per region).
func (m *Manager) underReplicated(ctx context.Context) int {
	s := &m.sweeps
	extra, counted := s.doubtedIn(m.self, m.doubted)
	if len(extra) == 0 {
		return int(s.underReplicated.Load())
	}
	return m.recordsIn(ctx, coarsest(append(counted, extra...)))
}

// Repair pass constants.
const (
	// settleSweeps: for this many sweep intervals after a (re)start (at
	// most maxSettle), while its routing table fills, a node's passes take
	// the peers they see for the first time for peers that were there all
	// along (plan.go): its sparse early view has it hold far more than it
	// does, and would have it sync ranges that are not its own. The old
	// holders sync its ranges to it as they see it join. Deaths and
	// returns are followed at once.
	settleSweeps = 2
	maxSettle    = 30 * time.Second
	// walkChunk is how many records a sweep's store walk reads; the next
	// sweep goes on from there.
	walkChunk = 4096
	// batchRecords and batchBytes bound the records a walk holds at once
	// (to drop them after reading).
	batchRecords = 256
	batchBytes   = 1 << 20
)

// settling reports whether the node is within its settling period after a
// (re)start (settleSweeps).
func (m *Manager) settling() bool {
	return time.Since(m.started) < min(settleSweeps*m.cfg.RepairInterval, maxSettle)
}

func (m *Manager) run() {
	m.pass(m.ctx, true)
	// Sweep at a random phase, so that nodes started together do not all
	// sweep at the same moment.
	sweep := time.NewTimer(rand.N(m.cfg.RepairInterval) + 1)
	defer sweep.Stop()
	round := antiEntropySweeps * m.cfg.RepairInterval
	var moved uint64 // repairBytes at the last sweep
	for n := 0; ; {
		select {
		case <-m.ctx.Done():
			return
		case <-sweep.C:
			m.pass(m.ctx, true)
			bytes := m.repairBytes.Load()
			busy := m.sweeps.changedWithin(round) || bytes-moved > antiEntropyBusyBytes
			moved = bytes
			if n++; antiEntropyDue(n, busy) {
				m.antiEntropy(m.ctx, m.sweeps.regions) // antientropy.go
				n = 0
			}
			sweep.Reset(m.cfg.RepairInterval)
		case <-m.kick:
			quiet, most := kickDelay, kickGatherMax
			if m.settling() {
				quiet, most = settlingKickDelay, settlingKickDelay
			}
			if !m.sweeps.gather(m.ctx, time.Now(), quiet, most) {
				return
			}
			// A kick that arrived while the last pass gathered its burst
			// may find nothing left to look at.
			if m.sweeps.pending() {
				m.pass(m.ctx, false)
			}
		}
	}
}

// antiEntropyBusyBytes: a node whose repair moved more than this since its
// last sweep (range syncs it ran or served) is taking part in a bulk
// repair, a death's or a join's, which the region planner runs.
const antiEntropyBusyBytes = 1 << 20

// antiEntropyDue reports whether anti-entropy runs after the sweeps-th
// sweep since its last round: every antiEntropySweeps sweeps, unless the
// node is busy (the routing table changed within the last round, or a bulk
// repair moved records through it since the last sweep), then up to two
// rounds later. The region planner is repairing what the change moved,
// and a round now would move the same records to the same new holders
// again: in a wave of 5 deaths among 20 nodes at 100,000 keys, the rounds
// that ran while the planner's syncs did moved about 124,000 records (sent
// and received), next to the 200,000 copies the wave needed.
func antiEntropyDue(sweeps int, busy bool) bool {
	return sweeps >= antiEntropySweeps && (!busy || sweeps >= 3*antiEntropySweeps)
}

// pass repairs by region (plan.go): it computes the regions of the routing
// table, syncs the ranges whose holders changed since the last pass and
// those left incomplete, hands off the ranges this node no longer holds, and
// in a sweep walks the next chunk of the store (walk). What to do is decided
// by planRegions; pass gathers its inputs, carries the plan out and records
// the outcomes.
func (m *Manager) pass(ctx context.Context, sweep bool) {
	began := time.Now()
	s := &m.sweeps
	// The changes are taken before the table is read: a peer that joins
	// or leaves after the read stays pending, for the pass its kick calls
	// for. Taken after the read, its change went with a table that did
	// not show it: the pass missed it, and no pass followed.
	changed := s.takeChanged()
	table := m.router.tablePeers()
	learned := s.learnedSince()
	table = append(table, s.learnedPeers(table, m.router.filter)...) // targets.go
	peers := append(slices.Clone(table), m.self)
	cur := regions(peers, m.cfg.Factor)
	in := regionInput{self: m.self, prev: s.regions, cur: cur, k: m.cfg.Factor,
		redo: slices.Collect(maps.Keys(s.incomplete)), changed: changed, learned: learned}
	settling := m.settling()
	in.missed = s.missed(table, in.changed, settling)
	if sweep {
		in.redo = append(in.redo, m.walk(ctx, cur)...)
		in.checks = s.checks
	}
	plan, found := m.retarget(ctx, planRegions(in), peers) // targets.go
	s.learn(found)
	if len(found) > 0 || joined(s.regions, peers, in.changed) {
		s.resetProbes() // targets.go: not for departures, nor the plan work they cause
	}
	if sweep && s.probeDue() {
		ps, rotation := s.probes(cur, m.self)
		learned := m.probe(ctx, ps, plan, peers)
		s.learn(learned)
		s.probed(len(learned) > 0, rotation)
	}
	var syncing []prefix
	for _, j := range plan.syncs {
		syncing = append(syncing, j.prefixes...)
	}
	syncing = coarsest(syncing)
	s.setCounted(syncing, m.recordsIn(ctx, syncing))
	planned := time.Now()
	// A handed-off range is dropped only if it still holds what it held
	// before its syncs (dropRange).
	before := make([]*rangeDigest, len(plan.handOffs))
	for i, p := range plan.handOffs {
		before[i] = m.rangeDigest(ctx, p)
	}
	failed, unreachable := m.runSyncs(ctx, plan)
	s.forget(unreachable)
	for i, p := range plan.handOffs {
		if slices.ContainsFunc(failed, func(q prefix) bool { return overlaps(p, q) }) {
			continue
		}
		if !m.dropRange(ctx, p, before[i]) {
			failed = append(failed, p) // synced again, and dropped, by the next pass
		}
	}
	if ctx.Err() != nil {
		return // cut short: the next pass starts from the same state
	}
	s.regions = cur
	s.setHeld(cur, m.self)
	s.deferChecks(plan.checks, sweep)
	if settling {
		s.see(table, in.changed)
	} else {
		s.seen = nil
	}
	clear(s.incomplete)
	var under int
	for _, p := range failed {
		n := m.recordsIn(ctx, []prefix{p})
		s.incomplete[p] = n
		under += n
	}
	s.setCounted(failed, under)
	if len(plan.syncs) > 0 || len(failed) > 0 {
		m.logger.Debug("repair pass", "sweep", sweep, "changed", len(in.changed), "syncs", len(plan.syncs),
			"ranges", len(syncing), "failed", len(failed), "under_replicated", under,
			"planned_in", planned.Sub(began), "synced_in", time.Since(planned))
	}
	if sweep {
		s.mu.Lock()
		s.last = time.Now()
		s.mu.Unlock()
	}
}

// deferChecks keeps a pass's checks for the next sweep: a sweep's replace
// those it ran, an event pass's add to them.
func (s *sweepState) deferChecks(checks map[peer.ID][]prefix, sweep bool) {
	if sweep {
		s.checks = nil
	}
	for h, ps := range checks {
		if s.checks == nil {
			s.checks = map[peer.ID][]prefix{}
		}
		s.checks[h] = coarsest(append(s.checks[h], ps...))
	}
}

// joined reports whether a peer joined the peers of a pass (peers: the
// table, the learned peers and self) since the regions rs of the last pass
// (every peer holds the region of its own ID; none: the first pass): one
// that rs lack, or one among peers that changed since (in changed: it left
// and came back). A peer that left, and only left, is not a join.
func joined(rs []region, peers []peer.ID, changed map[peer.ID]bool) bool {
	if rs == nil {
		return true
	}
	before := regionPeers(rs)
	return slices.ContainsFunc(peers, func(p peer.ID) bool { return !before[p] || changed[p] })
}

// secondDelay is the least time a pass waits, from the start of its syncs,
// before those in which it is the second responsible survivor.
const secondDelay = time.Second

// runSyncs runs the plan's sync jobs, repairWorkers sessions at a time (a
// job's hand-off prefixes in a push-only session of their own), those in
// which this node is the second responsible survivor (plan.seconds) after
// all the others and at least secondDelay after the first, and returns the prefixes of those that failed or did not
// end equal (handed off), and the peers whose syncs failed with an error.
func (m *Manager) runSyncs(ctx context.Context, plan regionPlan) (failed []prefix, errored []peer.ID) {
	first, second := splitSeconds(sessionsOf(plan), plan.seconds)
	began := time.Now()
	failed, errored = m.runSessions(ctx, first)
	if len(second) > 0 {
		select { // a node that is only ever second gives the nearest a head start
		case <-time.After(m.secondDelay - time.Since(began)):
		case <-ctx.Done():
		}
	}
	f, e := m.runSessions(ctx, second)
	return coarsest(append(failed, f...)), append(errored, e...)
}

// splitSeconds splits sessions into those to run first and the parts of
// those in seconds (per peer), to run after them.
func splitSeconds(sessions []syncJob, seconds map[peer.ID][]prefix) (first, second []syncJob) {
	for _, j := range sessions {
		cut := seconds[j.peer]
		if len(cut) == 0 || j.mode == syncPush {
			first = append(first, j)
			continue
		}
		var later []prefix
		for _, q := range j.prefixes {
			for _, c := range cut {
				if overlaps(q, c) {
					later = append(later, finer(q, c))
				}
			}
		}
		if now := without(j.prefixes, cut); len(now) > 0 {
			first = append(first, syncJob{peer: j.peer, prefixes: now, mode: j.mode})
		}
		if len(later) > 0 {
			second = append(second, syncJob{peer: j.peer, prefixes: coarsest(later), mode: j.mode})
		}
	}
	return first, second
}

// runSessions runs sync sessions, repairWorkers at a time; it returns as
// runSyncs does.
func (m *Manager) runSessions(ctx context.Context, jobs []syncJob) (failed []prefix, errored []peer.ID) {
	ok := make([]bool, len(jobs))
	errs := make([]error, len(jobs))
	start := time.Now()
	forEachBounded(ctx, len(jobs), func(i int) {
		began := time.Now()
		res, err := m.ranges.syncRanges(ctx, jobs[i].peer, jobs[i].prefixes, jobs[i].mode)
		for _, wait := range m.syncRetries {
			if err == nil || !m.retrySync(ctx, jobs[i].peer, err, time.Since(start)+wait) {
				break
			}
			m.logger.Debug("range sync failed, retrying", "peer", jobs[i].peer, "prefixes", len(jobs[i].prefixes), "in", wait, "error", err)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
			m.repairs.Add(uint64(res.sent + res.received))
			m.syncRetried.Add(1)
			res, err = m.ranges.syncRanges(ctx, jobs[i].peer, jobs[i].prefixes, jobs[i].mode)
		}
		if err != nil {
			m.logger.Debug("range sync failed", "peer", jobs[i].peer, "prefixes", len(jobs[i].prefixes), "error", err)
		}
		ok[i], errs[i] = err == nil && (res.equal || res.handedOff), err
		m.repairs.Add(uint64(res.sent + res.received))
		m.logger.Debug("range sync", "peer", jobs[i].peer, "prefixes", len(jobs[i].prefixes), "mode", jobs[i].mode,
			"sent", res.sent, "received", res.received, "bytes", res.bytes, "rounds", res.rounds, "ok", ok[i], "took", time.Since(began))
	})
	for i, j := range jobs {
		if !ok[i] {
			failed = append(failed, j.prefixes...)
		}
		if errs[i] != nil && ctx.Err() == nil {
			errored = append(errored, j.peer)
		}
	}
	return coarsest(failed), errored
}

// syncRetryDelays are the waits before the retries of a range sync that
// failed on a transient error (retrySync): a stream reset or a timeout
// (the peer restarting its connection, or too busy to answer in time)
// need not leave the range to the next sweep.
var syncRetryDelays = []time.Duration{2 * time.Second, 4 * time.Second}

// retrySync reports whether a range sync with p that failed with err is
// tried again, once after (the time since the pass's sessions began, with
// the wait before the retry) passed: only for a transient error (transient),
// only while after is within a repair interval, and never with a peer that
// this node doubts (its connections closed, it failed a probe: likely dead)
// or that the router suspects.
func (m *Manager) retrySync(ctx context.Context, p peer.ID, err error, after time.Duration) bool {
	if ctx.Err() != nil || !transient(err) || after > m.cfg.RepairInterval {
		return false
	}
	if m.doubted != nil && m.doubted(p) {
		return false
	}
	return len(m.router.filter([]peer.ID{p})) == 1
}

// transient reports whether a sync's error may pass on its own: a stream
// reset, a closed stream or connection (EOF), a timeout. A refusal (busy,
// refused, malformed) is not, nor a dial that failed (the peer is down:
// the router learns it and the next pass syncs with others).
func transient(err error) bool {
	if errors.Is(err, errBusy) || errors.Is(err, ErrMalformed) {
		return false
	}
	if errors.Is(err, swarm.ErrDialBackoff) || errors.Is(err, swarm.ErrNoGoodAddresses) {
		return false
	}
	var dialErr *swarm.DialError
	if errors.As(err, &dialErr) {
		return false
	}
	var netErr net.Error
	return errors.Is(err, network.ErrReset) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &netErr) && netErr.Timeout()
}

// sessionsOf splits each sync job of plan into a session of the prefixes
// this node holds (both ways) and one of those it hands off or only checks
// (push only: plan.verify).
func sessionsOf(plan regionPlan) []syncJob {
	var out []syncJob
	for _, j := range plan.syncs {
		var push []prefix
		pushOnly := append(slices.Clone(plan.handOffs), plan.verify[j.peer]...)
		for _, q := range j.prefixes {
			for _, h := range pushOnly {
				if overlaps(q, h) {
					push = append(push, finer(q, h))
				}
			}
		}
		if len(push) == 0 {
			out = append(out, j)
			continue
		}
		if both := without(j.prefixes, pushOnly); len(both) > 0 {
			out = append(out, syncJob{peer: j.peer, prefixes: both})
		}
		out = append(out, syncJob{peer: j.peer, prefixes: coarsest(push), mode: syncPush})
	}
	return out
}

// errChunkDone stops a store walk at the end of its chunk.
var errChunkDone = errors.New("chunk done")

// walk reads the next chunk of records of the store from the cursor, in
// kad-ID order, wrapping around at the end of the key space: it drops
// expired records and old tombstones (droppable), and returns the prefixes
// of the regions this node does not hold in which it found records, to be
// handed off. It holds at most a batch of records in memory.
func (m *Manager) walk(ctx context.Context, cur []region) []prefix {
	s := &m.sweeps
	now := time.Now()
	var strays []prefix
	read := 0
	for read < s.chunk {
		var drop []*Record
		var size int
		var last []byte
		err := m.store.EachInRange(ctx, s.cursor, nil, func(id []byte, r *Record, n int) error {
			if read == s.chunk || len(drop) == batchRecords || size >= batchBytes {
				return errChunkDone
			}
			read++
			last = id
			if droppable(r, now, m.cfg.TombstoneTTL) {
				drop = append(drop, r)
				size += n
			} else if reg := regionOf(cur, id); !slices.Contains(reg.holders, m.self) && !slices.Contains(strays, reg.prefix) {
				strays = append(strays, reg.prefix)
			}
			return nil
		})
		m.dropRecords(ctx, drop)
		switch {
		case errors.Is(err, errChunkDone):
			s.cursor = after(last)
		case err != nil:
			if ctx.Err() == nil {
				m.logger.Warn("repair: walking the store", "error", err)
			}
			return strays
		default: // the end of the key space: start again from its beginning
			s.cursor = nil
			return strays
		}
	}
	return strays
}

// regionOf returns the region of the partition rs (in key-space order) that
// holds the kad ID id.
func regionOf(rs []region, id []byte) region {
	i, _ := slices.BinarySearchFunc(rs, id, func(r region, id []byte) int {
		if r.prefix.contains(id) {
			return 0
		}
		return bytes.Compare(r.prefix.id[:], id)
	})
	return rs[min(i, len(rs)-1)]
}

// after returns the kad ID that follows id, or nil after the last one.
func after(id []byte) []byte {
	next := bytes.Clone(id)
	for i := len(next) - 1; i >= 0; i-- {
		if next[i]++; next[i] != 0 {
			return next
		}
	}
	return nil
}

// rangeDigest returns the digest of this node's records in p, nil if it
// has none to give.
func (m *Manager) rangeDigest(ctx context.Context, p prefix) *rangeDigest {
	if m.digests == nil {
		return nil
	}
	d, err := m.digests.digest(ctx, p)
	if err != nil {
		return nil
	}
	return &d
}

// dropRange removes this node's records in p (handed off), a batch at a
// time, as long as p holds nothing but what it held before the syncs that
// handed it off (synced: its digest then; nil: unknown, nothing is
// dropped). It checks that before the first batch and after each: the
// digest of p must be synced with the records removed so far taken out. A
// record that arrived meanwhile (a write this node took after the syncs
// read its copy of p) breaks that: the batch just removed is put back, the
// drop stops and dropRange reports false, so that the next pass syncs p
// again before dropping it. A record that changed since it was read is
// kept by Remove (and breaks the check too).
func (m *Manager) dropRange(ctx context.Context, p prefix, synced *rangeDigest) bool {
	if synced == nil {
		return false
	}
	left := *synced
	unchanged := func() bool {
		d := m.rangeDigest(ctx, p)
		return d != nil && *d == left
	}
	if !unchanged() {
		return false
	}
	lo, hi := p.bounds()
	for lo != nil {
		var batch []*Record
		var size int
		var last []byte
		err := m.store.EachInRange(ctx, lo, hi, func(id []byte, r *Record, n int) error {
			if len(batch) == batchRecords || size >= batchBytes {
				return errChunkDone
			}
			batch, size, last = append(batch, r), size+n, id
			left.remove(digestOf(id, r.Marshal()))
			return nil
		})
		for _, r := range batch {
			if err := m.store.Remove(ctx, r); err != nil {
				m.logger.Warn("dropping a handed-off record", "key", r.Key, "error", err)
			}
		}
		if !unchanged() {
			for _, r := range batch {
				if _, err := m.store.Put(ctx, r); err != nil {
					m.logger.Warn("keeping a record of a range that changed during its hand-off", "key", r.Key, "error", err)
				}
			}
			return false
		}
		if !errors.Is(err, errChunkDone) {
			if err != nil {
				m.logger.Warn("dropping a handed-off range", "prefix", p, "error", err)
			}
			return err == nil
		}
		lo = after(last)
	}
	return true
}

// recordsIn returns how many records this node has in the prefixes ps
// (disjoint, as coarsest leaves them), tombstones and expired records not
// yet dropped included: from the digest table's counts, without reading the
// store but for prefixes longer than its leaves, which hold few records
// (digest.go); by a walk of the ranges if there are no digests.
func (m *Manager) recordsIn(ctx context.Context, ps []prefix) int {
	n := 0
	for _, p := range ps {
		if d := m.rangeDigest(ctx, p); d != nil {
			n += int(d.count)
		} else {
			n += m.countRange(ctx, p, func(*Record) bool { return true })
		}
	}
	return n
}

// countRange counts this node's records in p that match keep.
func (m *Manager) countRange(ctx context.Context, p prefix, keep func(*Record) bool) int {
	lo, hi := p.bounds()
	n := 0
	_ = m.store.EachInRange(ctx, lo, hi, func(_ []byte, r *Record, _ int) error {
		if keep(r) {
			n++
		}
		return nil
	})
	return n
}

// audit fetches every holder's copy, adopts a newer verified copy if a holder
// has one, and pushes the winner to every holder behind. It reports whether
// every holder ends up with the winner.
func (m *Manager) audit(ctx context.Context, r *Record, holders []peer.ID) bool {
	m.audits.Add(1)
	got := m.fetchAll(ctx, r.Key, holders)
	for _, a := range got {
		m.countRepair(transferSize(r.Key, a.rec), 0) // fetched: its holder does not count it
	}
	got = append(got, answer{peer: m.self, rec: r})
	best := m.winner(got)
	if best == nil { // not even the local copy passes validation (a lower max_value_size, say)
		m.logger.Warn("repair: no valid copy of a stored key", "key", r.Key)
		return false
	}
	complete := true
	for _, a := range got {
		if a.err != nil {
			complete = false
			continue
		}
		if a.rec != nil && a.rec.Compare(best) >= 0 {
			continue
		}
		if err := m.pushLimit.Wait(ctx); err != nil {
			return false
		}
		c, cancel := m.rpcContext()
		err := m.tr.push(c, a.peer, best)
		cancel()
		if a.peer != m.self {
			m.countRepair(transferSize(r.Key, best), 0)
		}
		if err != nil {
			complete = false
			m.logger.Debug("repair push failed", "key", r.Key, "peer", a.peer, "error", err)
			continue
		}
		if a.peer != m.self {
			m.repairs.Add(1)
		}
	}
	return complete
}

// transferSize is about the bytes a fetch or a push of key moves, with r the
// record carried (nil: none): the key, the record and the framing.
func transferSize(key string, r *Record) uint64 {
	n := len(key) + 8
	if r != nil {
		n += len(r.Marshal())
	}
	return uint64(n)
}

// fetchAll asks the given peers (this node excluded) for their copy of key.
func (m *Manager) fetchAll(ctx context.Context, key string, peers []peer.ID) []answer {
	out := make(chan answer, len(peers))
	n := 0
	for _, p := range peers {
		if p == m.self {
			continue
		}
		n++
		if !m.goTracked(func() {
			c, cancel := context.WithTimeout(ctx, m.cfg.RPCTimeout)
			defer cancel()
			rec, err := m.tr.fetch(c, p, key)
			out <- answer{p, rec, err}
		}) {
			out <- answer{peer: p, err: errClosed}
		}
	}
	got := make([]answer, 0, n+1)
	for range n {
		got = append(got, <-out)
	}
	return got
}

// LeaveResult counts what a graceful leave did: of Records live records and
// tombstones, HandedOff reached every peer that holds them once this node is
// gone; the rest fell short or were not tried before the deadline.
type LeaveResult struct {
	Records, HandedOff int
}

// Leave hands every region this node holds to the peers that hold it once
// this node is gone (its regions among the other peers), by range sync in
// one batch per peer, until done or ctx ends.
func (m *Manager) Leave(ctx context.Context) LeaveResult {
	others := m.router.tablePeers()
	plan, _ := m.retarget(ctx, planRegions(regionInput{self: m.self,
		prev: regions(append(slices.Clone(others), m.self), m.cfg.Factor), cur: regions(others, m.cfg.Factor)}), others)
	kept := func(r *Record) bool { return r.Live(time.Now().UnixNano()) || r.Deleted }
	res := LeaveResult{Records: m.countRange(ctx, prefix{}, kept)}
	failed, _ := m.runSyncs(ctx, plan)
	for _, p := range plan.handOffs {
		if ctx.Err() == nil && !slices.ContainsFunc(failed, func(q prefix) bool { return overlaps(p, q) }) {
			res.HandedOff += m.countRange(ctx, p, kept)
		}
	}
	return res
}

// forEachBounded calls fn(i) for each i in [0, n) on repairWorkers
// goroutines, and stops handing out indexes once ctx ends.
func forEachBounded(ctx context.Context, n int, fn func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(repairWorkers, n) {
		wg.Go(func() {
			for i := range work {
				fn(i)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	for i := range n {
		select {
		case work <- i:
		case <-ctx.Done():
			return
		}
	}
}
