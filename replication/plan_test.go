package replication

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peersByDistance returns n random peers, nearest the start of the key
// space (the all-zero kad ID) first: the order of responsibility for a
// region that is the whole key space.
func peersByDistance(t *testing.T, n int) []peer.ID {
	return kb.SortClosestPeers(randomPeers(t, n), make([]byte, 32))
}

// regionOfPeers is a region over p held by the peers of ps at the indexes.
func regionOfPeers(p prefix, ps []peer.ID, idx ...int) region {
	r := region{prefix: p}
	for _, i := range idx {
		r.holders = append(r.holders, ps[i])
	}
	slices.Sort(r.holders)
	return r
}

// exactPeers returns n random peers among which, and among any of which,
// every region is exact (none held by more than k: tiedWithAny); n is at
// most memExactNodes.
func exactPeers(t *testing.T, n int) []peer.ID {
	var out []peer.ID
	for len(out) < n {
		if p := randomPeer(t); !tiedWithAny(p, out) {
			out = append(out, p)
		}
	}
	return out
}

// withPartial returns r with the peers ps[idx...] as its partial holders.
func withPartial(r region, ps []peer.ID, idx []int) region {
	for _, i := range idx {
		r.partial = append(r.partial, ps[i])
	}
	slices.Sort(r.partial)
	return r
}

// mustPrefix parses a prefix written as bits, e.g. "01" (the empty string
// is the whole key space).
func mustPrefix(bits string) prefix {
	var p prefix
	for _, b := range bits {
		p = p.child(int(b - '0'))
	}
	return p
}

// describe names a plan by peer indexes: "P3:0,1 handoff:0" (prefixes as bits).
func describe(p regionPlan, ps []peer.ID) string {
	name := func(q prefix) string {
		var b strings.Builder
		for i := range q.bits {
			fmt.Fprint(&b, q.id[i/8]>>(7-i%8)&1)
		}
		if q.bits == 0 {
			return "*"
		}
		return b.String()
	}
	names := func(qs []prefix) string {
		var out []string
		for _, q := range qs {
			out = append(out, name(q))
		}
		return strings.Join(out, ",")
	}
	var out []string
	for _, j := range p.syncs {
		out = append(out, fmt.Sprintf("P%d:%s", slices.Index(ps, j.peer), names(j.prefixes)))
	}
	slices.Sort(out)
	if len(p.handOffs) > 0 {
		out = append(out, "handoff:"+names(p.handOffs))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, " ")
}

// The repair rules, region by region (the comment above responsibleRanks).
// One region, the whole key space; P0 is the peer nearest its start.
func TestPlanRegionsDecisions(t *testing.T) {
	P := peersByDistance(t, 8)
	whole := prefix{}
	cases := []struct {
		name      string
		self      int
		prev, cur []int // holders; prev nil: no previous regions
		redo      bool  // the whole key space is to be redone
		changed   []int // peers that joined or left since the last pass
		// prevPartial, curPartial: the holders of prev, cur among the k
		// nearest of only some keys (a region held by more than k).
		prevPartial, curPartial []int
		want                    string
	}{
		{name: "holders unchanged", prev: []int{0, 1, 2}, cur: []int{0, 1, 2}, want: "nothing"},
		{name: "a holder died: the nearest survivor syncs its replacement", prev: []int{0, 1, 2}, cur: []int{0, 2, 3}, want: "P3:*"},
		{name: "a holder died: so does the second survivor", self: 2, prev: []int{0, 1, 2}, cur: []int{0, 2, 3}, want: "P3:*"},
		{name: "a holder died: the third survivor leaves it to them", self: 3, prev: []int{0, 1, 2, 3}, cur: []int{0, 1, 3, 4}, want: "nothing"},
		{name: "two died: the survivors sync both replacements", self: 1, prev: []int{0, 1, 2, 3}, cur: []int{1, 3, 4, 5}, want: "P4:* P5:*"},
		{name: "a nearer peer joined: the old nearest syncs it", self: 1, prev: []int{1, 2, 3}, cur: []int{0, 1, 2}, want: "P0:*"},
		{name: "a nearer peer joined: the newcomer does not take the old second's duty", self: 2, prev: []int{1, 2, 3}, cur: []int{0, 1, 2}, want: "P0:*"},
		{name: "the newcomer itself does nothing", self: 0, prev: []int{1, 2, 3}, cur: []int{0, 1, 2}, want: "nothing"},
		{name: "the evicted holder hands off to every holder", self: 3, prev: []int{1, 2, 3}, cur: []int{0, 1, 2}, want: "P0:* P1:* P2:* handoff:*"},
		{name: "the network grew past the holders: the new one is synced", self: 1, prev: []int{0, 1}, cur: []int{0, 1, 2}, want: "P2:*"},
		{name: "a holder died and none replaces it", prev: []int{0, 1}, cur: []int{0}, want: "nothing"},
		{name: "never a holder", self: 5, prev: []int{0, 1, 2}, cur: []int{0, 1, 3}, want: "nothing"},
		{name: "no previous regions (the first pass): nothing to follow", prev: nil, cur: []int{0, 1, 2}, want: "nothing"},
		{name: "redo: every other holder", self: 2, prev: []int{0, 1, 2}, cur: []int{0, 1, 2}, redo: true, want: "P0:* P1:*"},
		{name: "redo on the first pass", self: 2, cur: []int{0, 1, 2}, redo: true, want: "P0:* P1:*"},
		{name: "redo of a range this node does not hold (strays): hand-off", self: 5, prev: []int{0, 1, 2}, cur: []int{0, 1, 2}, redo: true,
			want: "P0:* P1:* P2:* handoff:*"},
		{name: "redo and a change: one sync per peer", prev: []int{0, 1, 2}, cur: []int{0, 2, 3}, redo: true, want: "P2:* P3:*"},
		{name: "a holder left and came back between passes: it is synced as a newcomer", self: 1, prev: []int{0, 1, 2}, cur: []int{0, 1, 2},
			changed: []int{0}, want: "P0:*"},
		{name: "a holder left and came back: the second stayer syncs it too", self: 2, prev: []int{0, 1, 2}, cur: []int{0, 1, 2},
			changed: []int{0}, want: "P0:*"},
		{name: "a peer far from the region flapped: nothing", prev: []int{0, 1, 2}, cur: []int{0, 1, 2}, changed: []int{5}, want: "nothing"},
		{name: "a region held by more than k, unchanged: nothing", prev: []int{0, 1, 2, 3}, prevPartial: []int{2, 3},
			cur: []int{0, 1, 2, 3}, curPartial: []int{2, 3}, want: "nothing"},
		{name: "a holder died where two were tied: both, which held only their keys, are synced", prev: []int{0, 1, 2, 3}, prevPartial: []int{2, 3},
			cur: []int{0, 2, 3}, want: "P2:* P3:*"},
		{name: "one of two tied holders died: the other, which held only its keys, is synced", prev: []int{0, 1, 2, 3}, prevPartial: []int{2, 3},
			cur: []int{0, 1, 2}, want: "P2:*"},
		{name: "a joiner tied with a holder: the joiner is synced", prev: []int{0, 1, 2}, cur: []int{0, 1, 2, 3}, curPartial: []int{2, 3}, want: "P3:*"},
		{name: "a tied holder, which held only its keys, leaves the duty to those that held them all", self: 2,
			prev: []int{0, 1, 2, 3}, prevPartial: []int{2, 3}, cur: []int{0, 2, 3}, want: "nothing"},
		{name: "the holders of all the keys died: the tied ones sync each other", self: 1,
			prev: []int{0, 1, 2}, prevPartial: []int{1, 2}, cur: []int{1, 2}, want: "P2:*"},
		{name: "the holders of all the keys died: so does the second tied one", self: 2,
			prev: []int{0, 1, 2}, prevPartial: []int{1, 2}, cur: []int{1, 2}, want: "P1:*"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := regionInput{self: P[tc.self], cur: []region{withPartial(regionOfPeers(whole, P, tc.cur...), P, tc.curPartial)}}
			if tc.prev != nil {
				in.prev = []region{withPartial(regionOfPeers(whole, P, tc.prev...), P, tc.prevPartial)}
			}
			if tc.redo {
				in.redo = []prefix{whole}
			}
			for _, i := range tc.changed {
				if in.changed == nil {
					in.changed = map[peer.ID]bool{}
				}
				in.changed[P[i]] = true
			}
			if got := describe(planRegions(in), P); got != tc.want {
				t.Fatalf("plan = %s, want %s", got, tc.want)
			}
		})
	}
}

// While a node settles, its passes ignore the first sighting of a peer (its
// sparse early table filling up) but follow deaths and returns at once
// (plan.go). With real (exact) regions: P0, P1, ... are the peers nearest
// a key, k = 3, and the plan is read where it touches the key.
func TestPlanRegionsSettling(t *testing.T) {
	const k = 3
	kid := kb.ConvertKey(DHTKey("settling"))
	P := kb.SortClosestPeers(exactPeers(t, 8), kid)
	cases := []struct {
		name      string
		self      int
		prev, cur []int // the routing table (self aside) at the last pass and now; prev nil: the first pass
		missed    []int // peers of cur seen for the first time while settling, or that came and went since the last pass
		changed   []int // peers that joined or left the table since the last pass
		learned   []int // peers learned since the last pass (regionInput.learned)
		want      string
	}{
		{name: "settled: a holder died: a survivor syncs its replacement", prev: []int{1, 2, 3, 4, 5, 6, 7}, cur: []int{2, 3, 4, 5, 6, 7},
			want: "P3"},
		{name: "settling: a holder died: its replacement is synced at once", prev: []int{1, 2, 3, 4, 5, 6}, cur: []int{2, 3, 4, 5, 6, 7},
			missed: []int{7}, want: "P3"},
		{name: "settled: a peer nearer the key joined: the old holders sync it", self: 1, prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{0, 2, 3, 4, 5, 6, 7}, want: "P0"},
		{name: "settling: the same peer seen for the first time: nothing", self: 1, prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{0, 2, 3, 4, 5, 6, 7}, missed: []int{0}, want: "nothing"},
		{name: "settling: a first sighting that joined the table since the last pass is no flap", self: 1, prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{0, 2, 3, 4, 5, 6, 7}, missed: []int{0}, changed: []int{0}, want: "nothing"},
		{name: "settled: the holder a newcomer evicts hands off", self: 3, prev: []int{1, 2, 4, 5, 6, 7}, cur: []int{0, 1, 2, 4, 5, 6, 7},
			want: "P0 P1 P2 handoff"},
		{name: "settling: a first sighting that would evict this node: no hand-off", self: 3, prev: []int{1, 2, 4, 5, 6, 7},
			cur: []int{0, 1, 2, 4, 5, 6, 7}, missed: []int{0}, want: "nothing"},
		{name: "settling: a peer seen before that came back is synced", self: 1, prev: []int{2, 3, 4, 5, 6},
			cur: []int{0, 2, 3, 4, 5, 6, 7}, missed: []int{7}, want: "P0"},
		{name: "settling: a holder that left and came back between passes is synced", self: 1, prev: []int{0, 2, 3, 4, 5, 6},
			cur: []int{0, 2, 3, 4, 5, 6, 7}, missed: []int{7}, changed: []int{0, 7}, want: "P0"},
		{name: "settling: a holder died and its replacement is a first sighting: the replacement is synced", prev: []int{1, 2, 4, 5, 6, 7},
			cur: []int{2, 3, 4, 5, 6, 7}, missed: []int{3}, want: "P3"},
		{name: "settling: a death and a first sighting nearer the key: only the death is followed", self: 2, prev: []int{0, 3, 4, 5, 6, 7},
			cur: []int{1, 3, 4, 5, 6, 7}, missed: []int{1}, want: "P3"},
		{name: "a peer that joined and died between two passes: its replacement is synced", prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{2, 3, 4, 5, 6, 7}, missed: []int{1}, changed: []int{1}, want: "P3"},
		{name: "settling, the first pass: nothing", cur: []int{1, 2, 3, 4, 5, 6, 7}, missed: []int{1, 2, 3, 4, 5, 6, 7}, want: "nothing"},
		// Peers learned by lookup since the last pass (targets.go); the
		// last pass's view lacked them.
		{name: "learned: a holder the table lacks is synced as a newcomer", self: 1, prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{0, 2, 3, 4, 5, 6, 7}, learned: []int{0}, want: "P0"},
		{name: "learned, then a holder died: the peer the learned one displaced in the last view is synced too", prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{1, 3, 4, 5, 6, 7}, learned: []int{1}, want: "P1 P3"},
		{name: "learned, then it died: its replacement is synced", prev: []int{2, 3, 4, 5, 6, 7},
			cur: []int{2, 3, 4, 5, 6, 7}, learned: []int{1}, want: "P3"},
	}
	set := func(idx []int) map[peer.ID]bool {
		if idx == nil {
			return nil
		}
		out := map[peer.ID]bool{}
		for _, i := range idx {
			out[P[i]] = true
		}
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			self := P[tc.self]
			table := func(idx []int) []region {
				return regions(append(slices.Collect(maps.Keys(set(idx))), self), k)
			}
			in := regionInput{self: self, cur: table(tc.cur), k: k, missed: set(tc.missed), changed: set(tc.changed), learned: set(tc.learned)}
			if tc.prev != nil {
				in.prev = table(tc.prev)
			}
			if got := describeAt(planRegions(in), P, kid); got != tc.want {
				t.Fatalf("plan where it touches the key = %s, want %s", got, tc.want)
			}
		})
	}
}

// describeAt names by peer index what a plan does in the prefixes that
// hold the kad ID kid: "P3", "P0 P1 P2 handoff", or "nothing".
func describeAt(p regionPlan, ps []peer.ID, kid []byte) string {
	holds := func(q prefix) bool { return q.contains(kid) }
	var out []string
	for _, j := range p.syncs {
		if slices.ContainsFunc(j.prefixes, holds) {
			out = append(out, fmt.Sprintf("P%d", slices.Index(ps, j.peer)))
		}
	}
	slices.Sort(out)
	if slices.ContainsFunc(p.handOffs, holds) {
		out = append(out, "handoff")
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, " ")
}

// A plan works on the pieces of the key space where the old and the new
// regions overlap, batches the prefixes per peer, and redoes a prefix in
// each current region it overlaps.
func TestPlanRegionsPiecesAndBatches(t *testing.T) {
	P := peersByDistance(t, 6)
	self := P[0]
	prev := []region{regionOfPeers(mustPrefix("0"), P, 0, 1, 2), regionOfPeers(mustPrefix("1"), P, 0, 1, 2)}
	cur := []region{
		regionOfPeers(mustPrefix("00"), P, 0, 1, 3),
		regionOfPeers(mustPrefix("01"), P, 0, 1, 2),
		regionOfPeers(mustPrefix("10"), P, 0, 2, 3),
		regionOfPeers(mustPrefix("11"), P, 1, 2, 4),
	}
	in := regionInput{self: self, prev: prev, cur: cur}
	// 00 and 10 gained P3 (one job, two prefixes); 11 is no longer this
	// node's: handed to its three holders.
	if got, want := describe(planRegions(in), P), "P1:11 P2:11 P3:00,10 P4:11 handoff:11"; got != want {
		t.Fatalf("plan = %s, want %s", got, want)
	}
	in.redo = []prefix{mustPrefix("0"), mustPrefix("010")}
	if got, want := describe(planRegions(in), P), "P1:00,01,11 P2:01,11 P3:00,10 P4:11 handoff:11"; got != want {
		t.Fatalf("with a redo of 0 and 010: plan = %s, want %s", got, want)
	}
	// The other way round: coarser regions now.
	in = regionInput{self: self, prev: cur, cur: prev}
	if got, want := describe(planRegions(in), P), "P1:10 P2:00"; got != want {
		t.Fatalf("regions merged: plan = %s, want %s", got, want)
	}
}

// With real regions of a random network: when a peer dies, each piece it
// held is synced to its replacement by the two nearest survivors and by no
// one else; when a peer joins, the old holders it evicts hand their pieces
// off and two old holders sync each of its new pieces to it. Nothing else
// moves. (The regions are exact: where one is held by more than k, its
// partial holders are synced too; TestPlanRegionsDecisions.)
func TestPlanRegionsDeathAndJoin(t *testing.T) {
	const n, k = 24, 4
	peers := exactPeers(t, n)
	all := regions(peers, k)
	// plans returns what every node of the network plans when its regions
	// go from prev to cur (each node sees the same).
	plans := func(nodes []peer.ID, prev, cur []region) map[peer.ID]regionPlan {
		out := map[peer.ID]regionPlan{}
		for _, self := range nodes {
			out[self] = planRegions(regionInput{self: self, prev: prev, cur: cur})
		}
		return out
	}
	// senders[piece][to] lists who syncs the piece with peer to.
	type key struct {
		piece prefix
		to    peer.ID
	}
	senders := func(ps map[peer.ID]regionPlan) map[key][]peer.ID {
		out := map[key][]peer.ID{}
		for from, p := range ps {
			for _, j := range p.syncs {
				for _, q := range j.prefixes {
					out[key{q, j.peer}] = append(out[key{q, j.peer}], from)
				}
			}
		}
		return out
	}

	dead := peers[0]
	survivors := peers[1:]
	after := regions(survivors, k)
	got := senders(plans(survivors, all, after))
	want := 0
	pieces(all, after, func(piece prefix, before, now region) {
		if !slices.Contains(before.holders, dead) {
			return
		}
		for _, h := range now.holders {
			if slices.Contains(before.holders, h) {
				continue
			}
			want++
			from := got[key{piece, h}]
			if len(from) != min(responsibleRanks, len(before.holders)-1) {
				t.Errorf("piece %v: its new holder is synced by %d survivors, want %d", piece, len(from), responsibleRanks)
			}
			for _, f := range from {
				if !slices.Contains(before.holders, f) {
					t.Errorf("piece %v synced by %v, not one of its old holders", piece, f)
				}
			}
			delete(got, key{piece, h})
		}
	})
	if want == 0 || len(got) != 0 {
		t.Fatalf("%d new holders expected; other syncs planned: %v", want, got)
	}

	// The dead peer comes back: a join.
	joined := plans(peers, after, all)
	got = senders(joined)
	handed := 0
	pieces(after, all, func(piece prefix, before, now region) {
		if !slices.Contains(now.holders, dead) {
			return
		}
		if from := got[key{piece, dead}]; len(from) < min(responsibleRanks, len(before.holders)) {
			t.Errorf("piece %v synced to the newcomer by %v", piece, from)
		}
		delete(got, key{piece, dead})
		for _, h := range before.holders {
			if slices.Contains(now.holders, h) {
				continue
			}
			handed++ // h was evicted: it hands piece to every holder
			if !slices.ContainsFunc(joined[h].handOffs, func(q prefix) bool { return q.contains(piece.id[:]) }) {
				t.Errorf("the evicted %v does not hand off piece %v", h, piece)
			}
			for _, to := range now.holders {
				delete(got, key{piece, to})
			}
		}
	})
	if handed == 0 || len(got) != 0 {
		t.Fatalf("%d hand-offs; other syncs planned: %v", handed, got)
	}
	if p := joined[dead]; len(p.syncs) != 0 || len(p.handOffs) != 0 {
		t.Fatalf("the newcomer planned %s", describe(p, peers))
	}
}

// The store walk drops expired records and old tombstones, never an owned
// key's last record.
func TestDroppable(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ttl := 24 * time.Hour
	owned := "@" + randomPeer(t).String() + "/name"
	cases := []struct {
		name string
		rec  Record
		want bool
	}{
		{"live", Record{Key: "k", WrittenAt: now.Add(-time.Hour).UnixNano()}, false},
		{"expired", Record{Key: "k", ExpiresAt: now.Add(-time.Second).UnixNano()}, true},
		{"expires later", Record{Key: "k", ExpiresAt: now.Add(time.Second).UnixNano()}, false},
		{"young tombstone", Record{Key: "k", Deleted: true, WrittenAt: now.Add(-time.Hour).UnixNano()}, false},
		{"old tombstone", Record{Key: "k", Deleted: true, WrittenAt: now.Add(-25 * time.Hour).UnixNano()}, true},
		{"owned key, expired", Record{Key: owned, ExpiresAt: 1}, false},
		{"owned key, old tombstone", Record{Key: owned, Deleted: true, WrittenAt: 1}, false},
	}
	for _, tc := range cases {
		if got := droppable(&tc.rec, now, ttl); got != tc.want {
			t.Errorf("%s: droppable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A holder that is not responsible for a region whose holder was replaced
// checks the replacement at its next sweep, push only: the responsible
// holders may have lacked the old holder in their tables, and so seen no
// change (TestKadNetDeathHiddenFromResponsible). A peer that left and came
// back (the same holders) calls for no check.
func TestPlanRegionsChecksReplacedHolder(t *testing.T) {
	P := peersByDistance(t, 5)
	self, whole := P[3], mustPrefix("")
	before := []region{regionOfPeers(whole, P, 0, 1, 2, 3)}
	after := []region{regionOfPeers(whole, P, 0, 1, 3, 4)} // P2 died, P4 replaced it
	plan := planRegions(regionInput{self: self, prev: before, cur: after, k: 4, changed: map[peer.ID]bool{P[2]: true}})
	if len(plan.syncs) != 0 || !slices.Equal(plan.checks[P[4]], []prefix{whole}) || len(plan.checks) != 1 {
		t.Fatalf("P3 (rank 2 of the stayed holders): syncs %v, checks %v; want no sync and a check of P4", plan.syncs, plan.checks)
	}
	next := planRegions(regionInput{self: self, prev: after, cur: after, k: 4, checks: plan.checks})
	if len(next.syncs) != 1 || next.syncs[0].peer != P[4] || !slices.Equal(next.verify[P[4]], []prefix{whole}) {
		t.Fatalf("next sweep: syncs %v, verify %v; want a push-only sync of the whole space with P4", next.syncs, next.verify)
	}
	if s := sessionsOf(next); len(s) != 1 || s[0].mode != syncPush {
		t.Fatalf("sessions %v: want one push-only session", s)
	}
	flap := planRegions(regionInput{self: self, prev: after, cur: after, k: 4, changed: map[peer.ID]bool{P[4]: true}})
	if len(flap.checks) != 0 || len(flap.syncs) != 0 {
		t.Fatalf("P4 flapped: syncs %v, checks %v; want none from P3", flap.syncs, flap.checks)
	}
}
