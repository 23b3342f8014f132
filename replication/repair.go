package replication

import (
	"context"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// sweepState is what repair passes learned, for status and for skipping
// work. The repair loop (run) owns marks and incomplete; mu guards the rest.
type sweepState struct {
	marks      map[string]auditMark
	incomplete map[string]bool // keys whose last audit or hand-off left copies missing
	startup    bool            // the pass running is the first after Start (startupPass)
	// underReplicated is len(incomplete), for Stats.
	underReplicated atomic.Int64

	mu      sync.Mutex
	last    time.Time
	changed map[peer.ID]bool // peers that joined or left the table since the last event pass
}

func (s *sweepState) noteChanged(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changed[p] = true
}

// takeChanged returns and clears the peers noted since the last call.
func (s *sweepState) takeChanged() map[peer.ID]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.changed
	s.changed = make(map[peer.ID]bool)
	return out
}

// Stats summarises the records and repair work of this node.
type Stats struct {
	Records         int
	Bytes           int64
	UnderReplicated int
	RepairsTotal    uint64
	ReadRepairs     uint64    // the part of RepairsTotal pushed by read repair
	AuditsTotal     uint64    // keys audited (every holder asked for its copy) by repair
	ReadsTotal      uint64    // quorum reads this node ran (gets, and the reads before writes)
	HedgedTotal     uint64    // extra holders those reads asked after a hedge delay
	BadAnswers      uint64    // holder answers whose record failed validation (forged, ...)
	PartialWrites   uint64    // writes that failed after some holders had stored them
	LastSweep       time.Time // zero before the first sweep
}

// Stats returns the record counts and the repair totals.
func (m *Manager) Stats() Stats {
	records, bytes := m.store.Counts()
	s := &m.sweeps
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: records, Bytes: bytes, UnderReplicated: int(s.underReplicated.Load()),
		RepairsTotal: m.repairs.Load(), ReadRepairs: m.readFixes.Load(), AuditsTotal: m.audits.Load(), ReadsTotal: m.reads.Load(), HedgedTotal: m.hedges.Load(), LastSweep: s.last,
		BadAnswers: m.tr.badAnswers(), PartialWrites: m.partials.Load()}
}

func (m *Manager) run() {
	m.startupPass(m.ctx)
	// Sweep at a random phase, so that nodes started together do not all
	// sweep (and look up their keys' holders) at the same moment.
	sweep := time.NewTimer(rand.N(m.cfg.RepairInterval) + 1)
	defer sweep.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-sweep.C:
			m.pass(m.ctx, nil)
			sweep.Reset(m.cfg.RepairInterval)
		case <-m.kick:
			select { // gather the rest of a burst of routing events
			case <-time.After(kickDelay):
			case <-m.ctx.Done():
				return
			}
			// A kick that arrived while the last pass gathered its burst
			// may find nothing left to look at.
			if changed := m.sweeps.takeChanged(); len(changed) > 0 {
				m.pass(m.ctx, changed)
			}
		}
	}
}

// startupPass is the sweep at Start: it also seeds the audit marks of the
// keys this node has (planInput.startup).
func (m *Manager) startupPass(ctx context.Context) {
	m.sweeps.startup = true
	defer func() { m.sweeps.startup = false }()
	m.pass(ctx, nil)
}

// pass goes over every local record once: it drops expired records and old
// tombstones, hands off records this node no longer holds, and audits the
// keys it is responsible for whose holders changed (and, in a sweep, those
// due for a periodic audit). A sweep has changed == nil; a pass after
// routing events gets the peers that joined or left, and looks only at the
// keys whose holders they can change. What to do is decided by planRepair
// (plan.go); pass gathers its inputs, carries the plan out and records the
// outcomes.
func (m *Manager) pass(ctx context.Context, changed map[peer.ID]bool) {
	var recs []*Record
	err := m.store.Each(ctx, func(r *Record, _ int) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		m.logger.Warn("repair pass: reading the store", "error", err)
		return
	}
	s := &m.sweeps
	settle := min(settleSweeps*m.cfg.RepairInterval, maxSettle)
	in := planInput{
		self: m.self, k: m.cfg.Factor, interval: m.cfg.RepairInterval, tombstoneTTL: m.cfg.TombstoneTTL,
		now: time.Now(), sweep: changed == nil, changed: changed, recs: recs,
		startup: s.startup, settling: time.Since(m.started) < settle, settle: settle,
		marks: s.marks, incomplete: s.incomplete, budget: maxAuditsPerPass,
		nearby: func(key string) []peer.ID {
			return m.router.localClosest(kb.ConvertKey(DHTKey(key)), m.cfg.Factor)
		},
	}
	plan := planRepair(in)
	if len(plan.lookup) > 0 {
		in.holders = m.lookupHolders(ctx, plan.lookup)
		plan = planRepair(in)
	}
	maps.Copy(s.marks, plan.marks)
	done := m.carryOut(ctx, plan.actions)
	now := time.Now()
	for i, a := range plan.actions {
		m.recordOutcome(a, done[i], now)
	}

	live := make(map[string]bool, len(recs))
	for _, r := range recs {
		live[r.Key] = true
	}
	maps.DeleteFunc(s.incomplete, func(k string, _ bool) bool { return !live[k] })
	maps.DeleteFunc(s.marks, func(k string, _ auditMark) bool { return !live[k] })
	s.underReplicated.Store(int64(len(s.incomplete)))
	if in.sweep {
		s.mu.Lock()
		s.last = now
		s.mu.Unlock()
	}
}

// lookupHolders finds the holders of each key, repairWorkers at a time.
func (m *Manager) lookupHolders(ctx context.Context, keys []string) map[string][]peer.ID {
	found := make([][]peer.ID, len(keys))
	forEachBounded(ctx, len(keys), func(i int) {
		found[i] = m.router.closest(ctx, DHTKey(keys[i]), m.cfg.Factor)
	})
	out := make(map[string][]peer.ID, len(keys))
	for i, k := range keys {
		if found[i] != nil { // nil: the pass was cut short
			out[k] = found[i]
		}
	}
	return out
}

// carryOut runs the actions, repairWorkers at a time, and reports for each
// whether it left the key complete: dropped, or every holder with the winner.
func (m *Manager) carryOut(ctx context.Context, actions []repairAction) []bool {
	done := make([]bool, len(actions))
	forEachBounded(ctx, len(actions), func(i int) {
		a := actions[i]
		if ctx.Err() != nil {
			return
		}
		switch a.kind {
		case actDrop:
			if err := m.store.Remove(ctx, a.rec); err != nil {
				m.logger.Warn("dropping an expired record", "key", a.rec.Key, "error", err)
			}
			done[i] = true
		case actAudit:
			done[i] = m.audit(ctx, a.rec, a.holders)
		case actHandOff:
			if done[i] = m.audit(ctx, a.rec, a.holders); done[i] {
				if err := m.store.Remove(ctx, a.rec); err != nil {
					m.logger.Warn("dropping a handed-off record", "key", a.rec.Key, "error", err)
				}
			}
		}
	})
	return done
}

// recordOutcome updates the marks with the outcome of an action.
func (m *Manager) recordOutcome(a repairAction, complete bool, now time.Time) {
	s := &m.sweeps
	key := a.rec.Key
	switch {
	case !complete:
		s.incomplete[key] = true
	case a.kind == actAudit:
		s.marks[key] = auditMark{holders: a.holders, version: a.rec.Version, at: now}
		delete(s.incomplete, key)
	default: // dropped or handed off: the key is no longer here
		delete(s.marks, key)
		delete(s.incomplete, key)
	}
}

// audit fetches every holder's copy, adopts a newer verified copy if a holder
// has one, and pushes the winner to every holder behind. It reports whether
// every holder ends up with the winner.
func (m *Manager) audit(ctx context.Context, r *Record, holders []peer.ID) bool {
	m.audits.Add(1)
	got := m.fetchAll(ctx, r.Key, holders)
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

// Leave hands every local record to the peers that hold it once this node is
// gone (its k closest other peers), until done or ctx ends.
func (m *Manager) Leave(ctx context.Context) LeaveResult {
	var recs []*Record
	_ = m.store.Each(ctx, func(r *Record, _ int) error {
		if r.Live(time.Now().UnixNano()) || r.Deleted {
			recs = append(recs, r)
		}
		return nil
	})
	var handed atomic.Int64
	forEachBounded(ctx, len(recs), func(i int) {
		r := recs[i]
		others := m.router.closest(ctx, DHTKey(r.Key), m.cfg.Factor+1)
		others = slices.DeleteFunc(others, func(p peer.ID) bool { return p == m.self })
		if len(others) > m.cfg.Factor {
			others = others[:m.cfg.Factor]
		}
		if m.audit(ctx, r, others) {
			handed.Add(1)
		}
	})
	return LeaveResult{Records: len(recs), HandedOff: int(handed.Load())}
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
