package replication

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Who repairs a key (so that a failure does not cause k-fold traffic): the
// two holders nearest to the key among those this node last saw holding it
// audit it — fetch every holder's copy and push the winner to those behind —
// when its holders change, and every fullAuditSweeps sweeps.
// A join does not shift that duty to the newcomers, who do not have the key
// yet, because ranks are taken among the last audited holders. Every other
// holder audits a key only as a slow backstop (backstopSweeps), and a node
// that is no longer among a key's holders hands its copy off and drops it.
const (
	responsibleRanks = 2
	// fullAuditSweeps: a responsible holder re-audits an unchanged key every this many sweeps.
	fullAuditSweeps = 6
	// backstopSweeps: any holder audits a key it has not audited for this many sweeps.
	backstopSweeps = 30
)

// auditMark remembers the last complete audit of a key by this node.
type auditMark struct {
	holders []peer.ID
	version uint64
	at      time.Time
}

// sweepState is what repair passes learned, for status and for skipping work.
type sweepState struct {
	mu         sync.Mutex
	marks      map[string]auditMark
	incomplete map[string]bool // keys whose last audit or hand-off left copies missing
	last       time.Time
	count      int
	bytes      int64
	counted    time.Time        // when count and bytes were taken
	changed    map[peer.ID]bool // peers that joined or left the table since the last event pass
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
	AuditsTotal     uint64    // keys audited (every holder asked for its copy) by repair
	ReadsTotal      uint64    // quorum reads this node ran (gets, and the reads before writes)
	HedgedTotal     uint64    // extra holders those reads asked after a hedge delay
	LastSweep       time.Time // zero before the first sweep
}

// countsMaxAge is how stale the record counts in Stats may be.
const countsMaxAge = time.Second

// Stats returns the record counts (recounted when older than countsMaxAge)
// and the repair totals.
func (m *Manager) Stats() Stats {
	s := &m.sweeps
	s.mu.Lock()
	stale := time.Since(s.counted) > countsMaxAge
	s.mu.Unlock()
	if stale {
		var count int
		var bytes int64
		err := m.store.Each(m.ctx, func(_ *Record, size int) error {
			count++
			bytes += int64(size)
			return nil
		})
		if err == nil {
			s.setCounts(count, bytes)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: s.count, Bytes: s.bytes, UnderReplicated: len(s.incomplete),
		RepairsTotal: m.repairs.Load(), AuditsTotal: m.audits.Load(), ReadsTotal: m.reads.Load(), HedgedTotal: m.hedges.Load(), LastSweep: s.last}
}

func (s *sweepState) setCounts(count int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count, s.bytes, s.counted = count, bytes, time.Now()
}

func (m *Manager) run() {
	m.pass(m.ctx, nil)
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

// pass goes over every local record once: it drops expired records and old
// tombstones, hands off records this node no longer holds, and audits the
// keys it is responsible for whose holders changed (and, in a sweep, those
// due for a periodic audit). A sweep has changed == nil; a pass after
// routing events gets the peers that joined or left, and looks only at the
// keys whose holders they can change.
func (m *Manager) pass(ctx context.Context, changed map[peer.ID]bool) {
	sweep := changed == nil
	var recs []*Record
	var bytes int64
	err := m.store.Each(ctx, func(r *Record, size int) error {
		recs = append(recs, r)
		bytes += int64(size)
		return nil
	})
	if err != nil {
		m.logger.Warn("repair pass: reading the store", "error", err)
		return
	}
	var budget atomic.Int64
	budget.Store(maxAuditsPerPass)
	forEachBounded(ctx, recs, func(r *Record) {
		if sweep || m.affected(r.Key, changed) {
			m.repairKey(ctx, r, sweep, &budget)
		}
	})

	s := &m.sweeps
	s.setCounts(len(recs), bytes)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sweep {
		s.last = time.Now()
	}
	live := make(map[string]bool, len(recs))
	for _, r := range recs {
		live[r.Key] = true
	}
	for k := range s.incomplete {
		if !live[k] {
			delete(s.incomplete, k)
		}
	}
	for k := range s.marks {
		if !live[k] {
			delete(s.marks, k)
		}
	}
}

func (m *Manager) repairKey(ctx context.Context, r *Record, sweep bool, budget *atomic.Int64) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	if !keepsForever(r.Key) && ((r.Expired(now.UnixNano()) && !r.Deleted) || (r.Deleted && now.Sub(time.Unix(0, r.WrittenAt)) > m.cfg.TombstoneTTL)) {
		if err := m.store.Remove(ctx, r); err != nil {
			m.logger.Warn("dropping an expired record", "key", r.Key, "error", err)
		}
		m.forget(r.Key)
		return
	}
	if sweep && m.noteFresh(r, now) {
		return
	}
	holders := m.router.closest(ctx, DHTKey(r.Key), m.cfg.Factor)
	if rank(holders, m.self) < 0 {
		if budget.Add(-1) >= 0 {
			m.handOff(ctx, r, holders)
		}
		return
	}
	if m.auditDue(r, holders, now, sweep) && budget.Add(-1) >= 0 {
		complete := m.audit(ctx, r, holders)
		m.record(r, holders, complete, now)
	}
}

// affected reports whether a peer that joined or left can change the key's
// holders: it was one of them, or it is nearer to the key than the farthest
// of them (or they were fewer than k). The holders are those of the last
// audit or, for a key not audited here yet (one written moments ago), the k
// nearest this node's routing table knows now: a peer that left was nearer
// than the farthest of them if it was a holder, and a peer that joined is
// among them if it became one. Keys whose last audit left them incomplete
// count as affected.
func (m *Manager) affected(key string, changed map[peer.ID]bool) bool {
	m.sweeps.mu.Lock()
	mark := m.sweeps.marks[key]
	incomplete := m.sweeps.incomplete[key]
	m.sweeps.mu.Unlock()
	if incomplete {
		return true
	}
	holders := mark.holders
	if holders == nil {
		holders = m.router.localClosest(kb.ConvertKey(DHTKey(key)), m.cfg.Factor)
	}
	if len(holders) < m.cfg.Factor {
		return true
	}
	farthest := holders[len(holders)-1]
	for p := range changed {
		if slices.Contains(holders, p) || kb.Closer(p, farthest, DHTKey(key)) {
			return true
		}
	}
	return false
}

// noteFresh handles a sweep's first sight of a key written moments ago: its
// writer audits it if a push failed (followUp), so the sweep only starts the
// key's clocks, and leaves its holders (a lookup) to the next sweep so that
// the sweeps after a burst of writes stay cheap.
func (m *Manager) noteFresh(r *Record, now time.Time) bool {
	if now.Sub(time.Unix(0, r.WrittenAt)) >= m.cfg.RepairInterval {
		return false
	}
	s := &m.sweeps
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.marks[r.Key]; seen || s.incomplete[r.Key] {
		return false
	}
	s.marks[r.Key] = auditMark{version: r.Version, at: now}
	return true
}

// auditDue decides whether this node audits a key in this pass.
func (m *Manager) auditDue(r *Record, holders []peer.ID, now time.Time, sweep bool) bool {
	m.sweeps.mu.Lock()
	mark, audited := m.sweeps.marks[r.Key]
	incomplete := m.sweeps.incomplete[r.Key]
	m.sweeps.mu.Unlock()
	changed := !audited || mark.version != r.Version || !slices.Equal(mark.holders, holders)
	age := now.Sub(mark.at)
	responsible := rankAmong(holders, mark.holders, m.self) < responsibleRanks
	if sweep && audited && mark.holders == nil && mark.version == r.Version {
		// First full sight of a key noted by noteFresh: learn its holders.
		m.sweeps.mu.Lock()
		m.sweeps.marks[r.Key] = auditMark{holders: holders, version: r.Version, at: mark.at}
		m.sweeps.mu.Unlock()
		return false
	}
	switch {
	case incomplete:
		return true
	case responsible && changed:
		return true
	case sweep && responsible && age >= fullAuditSweeps*m.cfg.RepairInterval:
		return true
	default:
		return sweep && age >= backstopSweeps*m.cfg.RepairInterval
	}
}

// rankAmong is self's rank among the holders that were holders at the last
// audit (all of them when there was none): newcomers do not take the duty.
func rankAmong(holders, before []peer.ID, self peer.ID) int {
	n := 0
	for _, p := range holders {
		if p == self {
			return n
		}
		if len(before) == 0 || slices.Contains(before, p) {
			n++
		}
	}
	return -1
}

func (m *Manager) record(r *Record, holders []peer.ID, complete bool, now time.Time) {
	s := &m.sweeps
	s.mu.Lock()
	defer s.mu.Unlock()
	if complete {
		s.marks[r.Key] = auditMark{holders: holders, version: r.Version, at: now}
		delete(s.incomplete, r.Key)
	} else {
		s.incomplete[r.Key] = true
	}
}

func (m *Manager) forget(key string) {
	s := &m.sweeps
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.marks, key)
	delete(s.incomplete, key)
}

// audit fetches every holder's copy, adopts a newer verified copy if a holder
// has one, and pushes the winner to every holder behind. It reports whether
// every holder ends up with the winner.
func (m *Manager) audit(ctx context.Context, r *Record, holders []peer.ID) bool {
	m.audits.Add(1)
	got := m.fetchAll(ctx, r.Key, holders)
	got = append(got, answer{peer: m.self, rec: r})
	best := m.winner(got)
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

// handOff gives a record this node no longer holds to its holders and drops
// the local copy once every holder has it or something newer.
func (m *Manager) handOff(ctx context.Context, r *Record, holders []peer.ID) {
	if m.audit(ctx, r, holders) {
		if err := m.store.Remove(ctx, r); err != nil {
			m.logger.Warn("dropping a handed-off record", "key", r.Key, "error", err)
		}
		m.forget(r.Key)
		return
	}
	m.sweeps.mu.Lock()
	m.sweeps.incomplete[r.Key] = true
	m.sweeps.mu.Unlock()
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
		go func() {
			c, cancel := context.WithTimeout(ctx, m.cfg.RPCTimeout)
			defer cancel()
			rec, err := m.tr.fetch(c, p, key)
			out <- answer{p, rec, err}
		}()
	}
	got := make([]answer, 0, n+1)
	for range n {
		got = append(got, <-out)
	}
	return got
}

// Leave hands every local record to the peers that hold it once this node is
// gone (its k closest other peers), until done or ctx ends. It reports how
// many records could not be handed to all of them.
func (m *Manager) Leave(ctx context.Context) int {
	var recs []*Record
	_ = m.store.Each(ctx, func(r *Record, _ int) error {
		if r.Live(time.Now().UnixNano()) || r.Deleted {
			recs = append(recs, r)
		}
		return nil
	})
	var failed atomic.Int64
	forEachBounded(ctx, recs, func(r *Record) {
		others := m.router.closest(ctx, DHTKey(r.Key), m.cfg.Factor+1)
		others = slices.DeleteFunc(others, func(p peer.ID) bool { return p == m.self })
		if len(others) > m.cfg.Factor {
			others = others[:m.cfg.Factor]
		}
		if !m.audit(ctx, r, others) {
			failed.Add(1)
		}
	})
	return int(failed.Load())
}

// forEachBounded calls fn for each record on repairWorkers goroutines, and
// stops handing out records once ctx ends.
func forEachBounded(ctx context.Context, recs []*Record, fn func(*Record)) {
	work := make(chan *Record)
	var wg sync.WaitGroup
	for range repairWorkers {
		wg.Go(func() {
			for r := range work {
				fn(r)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	for _, r := range recs {
		select {
		case work <- r:
		case <-ctx.Done():
			return
		}
	}
}
