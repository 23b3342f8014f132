package replication

import (
	"hash/fnv"
	"slices"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The repair planner decides what one repair pass does with each local
// record, as a function of what the pass knows: no I/O, no clock, no locks,
// nothing changed. The pass (repair.go) gathers the inputs, carries the plan
// out and then records the outcomes in the audit marks.
//
// Deciding may need a key's holders, and finding them may cost a lookup, so
// a pass plans in two steps (as raft hands its caller a Ready and is told
// the result): it plans once without holders, looks up the keys the plan
// names in lookup, and plans again with their holders. The second plan has
// nothing left to look up.

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
	// settleSweeps: for this many sweep intervals after a (re)start (at
	// most maxSettle), while its routing table fills, a node takes the
	// records it had at start as audited (seeded marks) instead of
	// auditing them all at once.
	settleSweeps = 2
	maxSettle    = 30 * time.Second
)

// auditMark remembers the last complete audit of a key by this node, or its
// first sight of a key written moments ago or present at start (holders nil
// until a sweep learns them).
type auditMark struct {
	holders []peer.ID
	version uint64
	at      time.Time
	// seeded marks a key this node had when it started: its audits
	// start, spread out, once the node has settled.
	seeded bool
}

// planInput is everything a repair plan depends on.
type planInput struct {
	self         peer.ID
	k            int           // holders per key
	interval     time.Duration // of the sweeps
	tombstoneTTL time.Duration
	now          time.Time
	// sweep is true for a periodic sweep; a pass after routing events has
	// the peers that joined or left the routing table in changed.
	sweep   bool
	changed map[peer.ID]bool
	// startup is true for the first pass after this node started, which
	// seeds the marks of the keys it finds (it has none: marks live in
	// memory); settling is true for the settle period after the start.
	startup, settling bool
	settle            time.Duration
	recs              []*Record
	// marks and incomplete are what earlier passes left: the last audit of
	// each key, and the keys whose last audit or hand-off left copies missing.
	marks      map[string]auditMark
	incomplete map[string]bool
	// nearby returns the k peers nearest a key that the routing table knows,
	// this node included: the holders of a key not audited yet, for telling
	// whether a routing event concerns it.
	nearby func(key string) []peer.ID
	// holders are the looked-up holders (nearest first) of the keys an
	// earlier plan of the same pass named in lookup.
	holders map[string][]peer.ID
	// budget bounds the audits and hand-offs of the pass; the keys beyond it
	// stay due and are taken by the next pass.
	budget int
}

// actionKind is what a repair action does to a key.
type actionKind int

const (
	// actDrop removes an expired record or a tombstone older than its TTL.
	actDrop actionKind = iota
	// actAudit fetches every holder's copy and pushes the winner to those behind.
	actAudit
	// actHandOff audits the key among its holders, which this node is not
	// one of, and drops the local copy once they all have it.
	actHandOff
)

func (k actionKind) String() string {
	switch k {
	case actDrop:
		return "drop"
	case actAudit:
		return "audit"
	case actHandOff:
		return "hand-off"
	}
	return "unknown"
}

// repairAction is one thing a pass does to one key.
type repairAction struct {
	kind    actionKind
	rec     *Record
	holders []peer.ID // actAudit, actHandOff: the key's holders, nearest first
}

// repairPlan is what one pass does.
type repairPlan struct {
	// lookup names the keys whose holders the plan needs to decide; when it
	// is not empty, the rest of the plan is incomplete.
	lookup []string
	// marks are set before the actions run: first sight of a key written
	// moments ago, or the holders of a key learnt without an audit.
	marks   map[string]auditMark
	actions []repairAction
}

// planRepair decides one repair pass.
func planRepair(in planInput) repairPlan {
	p := repairPlan{marks: map[string]auditMark{}}
	budget := in.budget
	for _, r := range in.recs {
		s := in.decide(r)
		switch {
		case s.lookup:
			p.lookup = append(p.lookup, r.Key)
		case s.mark != nil:
			p.marks[r.Key] = *s.mark
		case s.action == nil:
		case s.action.kind == actDrop:
			p.actions = append(p.actions, *s.action)
		case budget > 0:
			budget--
			p.actions = append(p.actions, *s.action)
		}
	}
	return p
}

// keyStep is the plan for one key: at most one of its fields is set.
type keyStep struct {
	lookup bool
	mark   *auditMark
	action *repairAction
}

// decide plans one record.
func (in *planInput) decide(r *Record) keyStep {
	now := in.now.UnixNano()
	if !keepsForever(r.Key) && ((r.Expired(now) && !r.Deleted) || (r.Deleted && in.now.Sub(time.Unix(0, r.WrittenAt)) > in.tombstoneTTL)) {
		return keyStep{action: &repairAction{kind: actDrop, rec: r}}
	}
	mark, audited := in.marks[r.Key]
	incomplete := in.incomplete[r.Key]
	if !incomplete && ((in.startup && !audited) || (in.settling && mark.seeded && mark.holders == nil && mark.version == r.Version)) {
		// A (re)start. Marks live in memory: without this, every key the
		// node holds would look overdue at its startup sweep, and its
		// holders would seem to change as its routing table fills. So the
		// startup pass seeds each key's mark with a clock that falls due
		// at a point spread over the full-audit period after settling
		// (seedTime); while settling, the node leaves seeded keys to the
		// other holders, which repair what their routing events call for;
		// the first sweep after settling learns the holders (below).
		if !audited {
			return keyStep{mark: &auditMark{version: r.Version, at: in.seedTime(r.Key), seeded: true}}
		}
		return keyStep{}
	}
	if !in.sweep && !in.affected(r.Key, mark, incomplete) {
		return keyStep{}
	}
	if in.sweep && !audited && !incomplete && in.now.Sub(time.Unix(0, r.WrittenAt)) < in.interval {
		// A sweep's first sight of a key written moments ago: its writer
		// audits it if a push failed, so the sweep only starts the key's
		// clocks, and leaves its holders (a lookup) to the next sweep so
		// that the sweeps after a burst of writes stay cheap.
		return keyStep{mark: &auditMark{version: r.Version, at: in.now}}
	}
	holders, ok := in.holders[r.Key]
	if !ok {
		return keyStep{lookup: true}
	}
	if rank(holders, in.self) < 0 {
		return keyStep{action: &repairAction{kind: actHandOff, rec: r, holders: holders}}
	}
	if in.sweep && audited && mark.holders == nil && mark.version == r.Version && !incomplete {
		// The next sweep after that first sight (or after settling, for a
		// seeded key) learns the key's holders.
		return keyStep{mark: &auditMark{holders: holders, version: r.Version, at: mark.at}}
	}
	if in.auditDue(r, mark, audited, incomplete, holders) {
		return keyStep{action: &repairAction{kind: actAudit, rec: r, holders: holders}}
	}
	return keyStep{}
}

// seedTime is the time a seeded mark says the key was last audited: such
// that the key is due for its periodic audit at a point spread evenly (by a
// hash of this node and the key) over the fullAuditSweeps intervals after
// the node has settled (in.settle after now).
func (in *planInput) seedTime(key string) time.Time {
	h := fnv.New64a()
	h.Write([]byte(in.self))
	h.Write([]byte(key))
	period := uint64(fullAuditSweeps * in.interval)
	phase := time.Duration(h.Sum64() % max(period, 1))
	return in.now.Add(in.settle - phase)
}

// affected reports whether a peer that joined or left can change the key's
// holders: it was one of them, or it is nearer to the key than the farthest
// of them (or they were fewer than k). The holders are those of the last
// audit or, for a key not audited here yet (one written moments ago), the k
// nearest this node's routing table knows now: a peer that left was nearer
// than the farthest of them if it was a holder, and a peer that joined is
// among them if it became one. Keys whose last audit left them incomplete
// count as affected.
func (in *planInput) affected(key string, mark auditMark, incomplete bool) bool {
	if incomplete {
		return true
	}
	holders := mark.holders
	if holders == nil {
		holders = in.nearby(key)
	}
	if len(holders) < in.k {
		return true
	}
	farthest := holders[len(holders)-1]
	for p := range in.changed {
		if slices.Contains(holders, p) || kb.Closer(p, farthest, DHTKey(key)) {
			return true
		}
	}
	return false
}

// auditDue decides whether this node, one of the key's holders, audits it:
// when the last audit left copies missing; when this node is responsible
// for the key and its version or holders changed since its last audit, or
// that audit is fullAuditSweeps old; and in any case in a sweep once the
// last audit is backstopSweeps old.
func (in *planInput) auditDue(r *Record, mark auditMark, audited, incomplete bool, holders []peer.ID) bool {
	changed := !audited || mark.version != r.Version || !slices.Equal(mark.holders, holders)
	age := in.now.Sub(mark.at)
	responsible := rankAmong(holders, mark.holders, in.self) < responsibleRanks
	switch {
	case incomplete:
		return true
	case responsible && changed:
		return true
	case in.sweep && responsible && age >= fullAuditSweeps*in.interval:
		return true
	default:
		return in.sweep && age >= backstopSweeps*in.interval
	}
}

// rankAmong is self's rank among the holders that were holders at the last
// audit (all of them when there was none): newcomers do not take the duty.
// It is -1 when self is not a holder.
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
