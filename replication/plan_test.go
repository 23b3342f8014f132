package replication

import (
	"fmt"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

const planKey = "planned"

// peersByDistance returns n random peers, nearest planKey first.
func peersByDistance(t *testing.T, n int) []peer.ID {
	return kb.SortClosestPeers(randomPeers(t, n), kb.ConvertKey(DHTKey(planKey)))
}

func peersAt(ps []peer.ID, idx ...int) []peer.ID {
	out := make([]peer.ID, len(idx))
	for i, j := range idx {
		out[i] = ps[j]
	}
	return out
}

// outcome names what a plan does with planKey.
func outcome(p repairPlan) string {
	switch {
	case len(p.lookup) > 0:
		return "lookup"
	case len(p.actions) > 0:
		return p.actions[0].kind.String()
	}
	if m, ok := p.marks[planKey]; ok {
		if m.seeded && m.holders == nil {
			return "seed"
		}
		if m.holders == nil {
			return "note"
		}
		return "learn"
	}
	return "nothing"
}

// The repair rules, key by key (the comment above responsibleRanks). P0 is
// the peer nearest the key; the key's holders are P0, P1, P2 (k = 3).
func TestPlanRepairDecisions(t *testing.T) {
	const k = 3
	interval := time.Second
	now := time.Unix(1_000_000, 0)
	P := peersByDistance(t, 8)
	old := now.Add(-time.Hour).UnixNano()
	type mark struct {
		holders []int // indexes in P; nil: none known yet
		version uint64
		ago     int // sweeps since the mark was set
		seeded  bool
	}
	cases := []struct {
		name       string
		sweep      bool
		startup    bool // the first pass after Start
		settling   bool
		changed    []int // event pass: the peers that joined or left
		self       int
		rec        Record // Key and, unless set, Version 1 and an old WrittenAt are filled in
		mark       *mark
		incomplete bool
		holders    []int // the looked-up holders; default P0, P1, P2
		nearby     []int // the routing table's nearest; default the holders
		want       string
	}{
		// Records that end.
		{name: "expired record is dropped", sweep: true, rec: Record{ExpiresAt: now.Add(-time.Second).UnixNano()}, want: "drop"},
		{name: "expired record is dropped by an event pass too", changed: []int{7}, rec: Record{ExpiresAt: 1}, want: "drop"},
		{name: "old tombstone is dropped", sweep: true, rec: Record{Deleted: true, WrittenAt: now.Add(-25 * time.Hour).UnixNano()}, want: "drop"},
		{name: "young tombstone is kept and audited like a value", sweep: true, rec: Record{Deleted: true, WrittenAt: old}, want: "audit"},

		// Sweeps.
		{name: "sweep: first sight of a key written moments ago starts its clocks only", sweep: true,
			rec: Record{WrittenAt: now.Add(-interval / 2).UnixNano()}, want: "note"},
		{name: "sweep: the next sweep learns the holders of a noted key without an audit", sweep: true,
			mark: &mark{version: 1, ago: 1}, want: "learn"},
		{name: "sweep: a noted key overwritten since is audited", sweep: true,
			rec: Record{Version: 2}, mark: &mark{version: 1, ago: 1}, want: "audit"},
		{name: "sweep: a noted key left incomplete is audited, not learnt", sweep: true,
			mark: &mark{version: 1, ago: 1}, incomplete: true, want: "audit"},
		{name: "sweep: unknown old key, responsible", sweep: true, want: "audit"},
		{name: "sweep: unknown old key, not responsible: the backstop is overdue", sweep: true, self: 2, want: "audit"},
		{name: "sweep: unchanged key audited recently", sweep: true, mark: &mark{holders: []int{0, 1, 2}, version: 1, ago: fullAuditSweeps - 1}, want: "nothing"},
		{name: "sweep: responsible holder's periodic audit", sweep: true, mark: &mark{holders: []int{0, 1, 2}, version: 1, ago: fullAuditSweeps}, want: "audit"},
		{name: "sweep: second responsible holder's periodic audit", sweep: true, self: 1, mark: &mark{holders: []int{0, 1, 2}, version: 1, ago: fullAuditSweeps}, want: "audit"},
		{name: "sweep: other holders wait for the backstop", sweep: true, self: 2, mark: &mark{holders: []int{0, 1, 2}, version: 1, ago: fullAuditSweeps}, want: "nothing"},
		{name: "sweep: backstop", sweep: true, self: 2, mark: &mark{holders: []int{0, 1, 2}, version: 1, ago: backstopSweeps}, want: "audit"},
		{name: "sweep: new version, responsible", sweep: true, rec: Record{Version: 2}, mark: &mark{holders: []int{0, 1, 2}, version: 1}, want: "audit"},
		{name: "sweep: new version, not responsible", sweep: true, self: 2, rec: Record{Version: 2}, mark: &mark{holders: []int{0, 1, 2}, version: 1}, want: "nothing"},
		{name: "sweep: a holder left, responsible", sweep: true, holders: []int{0, 2, 3}, mark: &mark{holders: []int{0, 1, 2}, version: 1}, want: "audit"},
		{name: "sweep: a newcomer does not take the duty from the old second", sweep: true, self: 2,
			holders: []int{0, 1, 2}, mark: &mark{holders: []int{1, 2, 3}, version: 1}, want: "audit"},
		{name: "sweep: no longer a holder: hand off", sweep: true, self: 3, mark: &mark{holders: []int{0, 1, 3}, version: 1}, want: "hand-off"},
		{name: "sweep: incomplete key is audited", sweep: true, self: 2, mark: &mark{holders: []int{0, 1, 2}, version: 1}, incomplete: true, want: "audit"},

		// Passes after routing events.
		{name: "event: far peer joined", changed: []int{7}, mark: &mark{holders: []int{0, 1, 2}, version: 1}, want: "nothing"},
		{name: "event: a holder left", changed: []int{1}, holders: []int{0, 2, 3}, mark: &mark{holders: []int{0, 1, 2}, version: 1}, want: "audit"},
		{name: "event: a newcomer does not take the duty from the old second", changed: []int{1}, self: 2, holders: []int{0, 1, 2},
			mark: &mark{holders: []int{0, 2, 3}, version: 1}, want: "audit"},
		{name: "event: a nearer peer joined and the holders changed", changed: []int{1}, holders: []int{0, 1, 2},
			mark: &mark{holders: []int{0, 2, 3}, version: 1}, want: "audit"},
		{name: "event: a nearer peer joined: the farthest holder hands off", changed: []int{1}, self: 3, holders: []int{0, 1, 2},
			mark: &mark{holders: []int{0, 2, 3}, version: 1}, want: "hand-off"},
		{name: "event: a nearer peer joined but the lookup shows no change", changed: []int{1}, holders: []int{0, 2, 3},
			mark: &mark{holders: []int{0, 2, 3}, version: 1}, want: "nothing"},
		{name: "event: key not audited yet, judged by the routing table (far)", changed: []int{7}, want: "nothing"},
		{name: "event: key not audited yet, judged by the routing table (near)", changed: []int{1}, nearby: []int{0, 2, 3}, want: "audit"},
		{name: "event: fewer holders known than k", changed: []int{7}, nearby: []int{0, 1}, holders: []int{0, 1}, want: "audit"},
		{name: "event: incomplete key", changed: []int{7}, self: 2, mark: &mark{holders: []int{0, 1, 2}, version: 1}, incomplete: true, want: "audit"},
		{name: "event: a key written moments ago is not just noted", changed: []int{1}, rec: Record{WrittenAt: now.UnixNano()}, want: "audit"},

		// After a (re)start, while the routing table fills (settleSweeps).
		{name: "startup: a key without a mark is seeded, not audited", sweep: true, startup: true, settling: true, want: "seed"},
		{name: "startup: an expired key is dropped", sweep: true, startup: true, settling: true, rec: Record{ExpiresAt: 1}, want: "drop"},
		{name: "startup: a key left incomplete is audited", sweep: true, startup: true, settling: true, incomplete: true, want: "audit"},
		{name: "settling: a key that arrived after the start is treated as usual", settling: true, changed: []int{1}, want: "audit"},
		{name: "settling: a seeded key is left alone by routing events", settling: true, changed: []int{1},
			mark: &mark{version: 1, seeded: true}, want: "nothing"},
		{name: "settling: a seeded key is left alone by sweeps", sweep: true, settling: true,
			mark: &mark{version: 1, seeded: true, ago: 1}, want: "nothing"},
		{name: "settling: a seeded key overwritten since is audited", sweep: true, settling: true, rec: Record{Version: 2},
			mark: &mark{version: 1, seeded: true}, want: "audit"},
		{name: "settling: an incomplete key is audited", sweep: true, settling: true, incomplete: true, want: "audit"},
		{name: "settling: an expired key is dropped", sweep: true, settling: true, rec: Record{ExpiresAt: 1}, want: "drop"},
		{name: "settling: a key audited since the start is treated as usual", settling: true, changed: []int{1}, holders: []int{0, 2, 3},
			mark: &mark{holders: []int{0, 1, 2}, version: 1}, want: "audit"},
		{name: "settled: the first sweep learns a seeded key's holders", sweep: true,
			mark: &mark{version: 1, seeded: true, ago: fullAuditSweeps}, want: "learn"},
		{name: "settled: a seeded key whose holder left is audited", changed: []int{1}, holders: []int{0, 2, 3},
			mark: &mark{version: 1, seeded: true}, want: "audit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			rec.Key = planKey
			if rec.Version == 0 {
				rec.Version = 1
			}
			if rec.WrittenAt == 0 {
				rec.WrittenAt = old
			}
			holders := peersAt(P, 0, 1, 2)
			if tc.holders != nil {
				holders = peersAt(P, tc.holders...)
			}
			nearby := holders
			if tc.nearby != nil {
				nearby = peersAt(P, tc.nearby...)
			}
			in := planInput{
				self: P[tc.self], k: k, interval: interval, tombstoneTTL: 24 * time.Hour, now: now,
				sweep: tc.sweep, startup: tc.startup, settling: tc.settling, settle: 2 * interval, recs: []*Record{&rec}, marks: map[string]auditMark{},
				incomplete: map[string]bool{planKey: tc.incomplete}, budget: 10,
				nearby: func(string) []peer.ID { return nearby },
			}
			if !tc.sweep {
				in.changed = map[peer.ID]bool{}
				for _, i := range tc.changed {
					in.changed[P[i]] = true
				}
			}
			if tc.mark != nil {
				m := auditMark{version: tc.mark.version, at: now.Add(-time.Duration(tc.mark.ago) * interval), seeded: tc.mark.seeded}
				if tc.mark.holders != nil {
					m.holders = peersAt(P, tc.mark.holders...)
				}
				in.marks[planKey] = m
			}
			p := planRepair(in)
			if outcome(p) == "lookup" {
				in.holders = map[string][]peer.ID{planKey: holders}
				p = planRepair(in)
			}
			if got := outcome(p); got != tc.want {
				t.Fatalf("plan = %s, want %s", got, tc.want)
			}
			if len(p.actions) > 0 && p.actions[0].kind != actDrop && !slices.Equal(p.actions[0].holders, holders) {
				t.Fatalf("%s among %v, want the looked-up holders %v", p.actions[0].kind, p.actions[0].holders, holders)
			}
		})
	}
}

// A plan asks for the holders it needs, and for no others; it changes none
// of its inputs; the budget bounds audits and hand-offs, not drops.
func TestPlanRepairLookupsAndBudget(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	self := randomPeer(t)
	var recs []*Record
	for i := range 6 {
		recs = append(recs, &Record{Key: fmt.Sprintf("k%d", i), Version: 1, WrittenAt: now.Add(-time.Hour).UnixNano()})
	}
	recs = append(recs, &Record{Key: "expired", Version: 1, ExpiresAt: 1}, &Record{Key: "fresh", Version: 1, WrittenAt: now.UnixNano()})
	in := planInput{
		self: self, k: 1, interval: time.Second, tombstoneTTL: time.Hour, now: now, sweep: true,
		recs: recs, marks: map[string]auditMark{}, incomplete: map[string]bool{}, budget: 4,
		nearby: func(string) []peer.ID { t.Fatal("a sweep asked the routing table"); return nil },
	}
	p := planRepair(in)
	if want := []string{"k0", "k1", "k2", "k3", "k4", "k5"}; !slices.Equal(p.lookup, want) {
		t.Fatalf("lookups %v, want %v", p.lookup, want)
	}
	in.holders = map[string][]peer.ID{}
	for _, k := range p.lookup {
		in.holders[k] = []peer.ID{self}
	}
	p = planRepair(in)
	var got []string
	for _, a := range p.actions {
		got = append(got, a.kind.String()+" "+a.rec.Key)
	}
	if want := []string{"audit k0", "audit k1", "audit k2", "audit k3", "drop expired"}; !slices.Equal(got, want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	if len(p.lookup) != 0 || len(p.marks) != 1 || p.marks["fresh"].version != 1 {
		t.Fatalf("second plan: lookups %v, marks %v; want none and the fresh key noted", p.lookup, p.marks)
	}
	if len(in.marks) != 0 || len(in.incomplete) != 0 {
		t.Fatal("planning changed its inputs")
	}
}

// The keys a node had when it started become due for their periodic audit
// spread evenly over the fullAuditSweeps intervals after it settled, not all
// at once.
func TestSeededAuditsAreSpread(t *testing.T) {
	const keys = 1200
	interval := 10 * time.Second
	now := time.Unix(1_000_000, 0)
	in := planInput{self: randomPeer(t), interval: interval, now: now, settle: settleSweeps * interval}
	settled := now.Add(in.settle)
	perInterval := make([]int, fullAuditSweeps)
	for i := range keys {
		due := in.seedTime(fmt.Sprintf("key-%d", i)).Add(fullAuditSweeps * interval)
		if !due.After(settled) || due.After(settled.Add(fullAuditSweeps*interval)) {
			t.Fatalf("key-%d due at %v, want within the %d intervals after %v", i, due, fullAuditSweeps, settled)
		}
		perInterval[(due.Sub(settled)-1)/interval]++
	}
	for j, n := range perInterval {
		if n > 2*keys/fullAuditSweeps {
			t.Fatalf("%d of %d keys due in interval %d after settling (all: %v)", n, keys, j+1, perInterval)
		}
	}
}
