package replication

import (
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// without cuts prefixes out of others: what is left covers exactly the
// parts of the others outside the cut, with the coarsest prefixes.
func TestWithout(t *testing.T) {
	p := func(b byte, bits int) prefix { return prefixOf([]byte{b}, bits) }
	for _, c := range []struct {
		name    string
		ps, cut []prefix
		want    []prefix
	}{
		{"nothing cut", []prefix{p(0x80, 1)}, []prefix{p(0x40, 2)}, []prefix{p(0x80, 1)}},
		{"all cut", []prefix{p(0x80, 2)}, []prefix{p(0x80, 1)}, nil},
		{"a quarter cut", []prefix{p(0x00, 0)}, []prefix{p(0x40, 2)}, []prefix{p(0x00, 2), p(0x80, 1)}},
		{"two cuts", []prefix{p(0x80, 1)}, []prefix{p(0x80, 3), p(0xe0, 3)}, []prefix{p(0xa0, 3), p(0xc0, 3)}},
	} {
		if got := without(c.ps, c.cut); !slices.Equal(got, c.want) {
			t.Errorf("%s: without(%v, %v) = %v, want %v", c.name, c.ps, c.cut, got, c.want)
		}
	}
}

// A sweep probes probeRegions of the regions this node holds, the next
// ones in key-space order each time, so that every one is probed once in
// ceil(held/probeRegions) sweeps; with no more than probeRegions held, all
// of them every sweep.
func TestProbesRotate(t *testing.T) {
	peers := randomPeers(t, 60)
	cur := regions(peers, 8)
	// self: the peer that holds the most regions (with random IDs, one
	// peer may hold a single one), moved first for the few-regions case.
	heldBy := func(p peer.ID) []prefix {
		var held []prefix
		for _, r := range cur {
			if slices.Contains(r.holders, p) {
				held = append(held, r.prefix)
			}
		}
		return held
	}
	most := 0
	for i, p := range peers {
		if len(heldBy(p)) > len(heldBy(peers[most])) {
			most = i
		}
	}
	peers[0], peers[most] = peers[most], peers[0]
	self := peers[0]
	held := heldBy(self)
	if len(held) <= probeRegions {
		t.Fatalf("self holds %d regions: too few to rotate", len(held))
	}
	var s sweepState
	seen := map[prefix]int{}
	sweeps := (len(held) + probeRegions - 1) / probeRegions
	for range sweeps {
		got, rotation := s.probes(cur, self)
		if rotation != sweeps {
			t.Fatalf("a rotation takes %d rounds, want %d", rotation, sweeps)
		}
		if len(got) != probeRegions {
			t.Fatalf("a sweep probes %d regions, want %d", len(got), probeRegions)
		}
		for _, p := range got {
			if !slices.Contains(held, p) {
				t.Fatalf("probes %v, which self does not hold", p)
			}
			seen[p]++
		}
	}
	for _, p := range held {
		if seen[p] == 0 {
			t.Fatalf("%v not probed in %d sweeps (%d regions held)", p, sweeps, len(held))
		}
	}
	// The rotation goes on where it stopped, wrapping around.
	if got, _ := s.probes(cur, self); slices.ContainsFunc(got, func(p prefix) bool { return seen[p] > 1 }) {
		t.Fatalf("the next sweep probes %v again before the others", got)
	}
	few := regions(peers[:3], 8) // one region, the whole key space
	if got, rotation := s.probes(few, self); len(got) != 1 || rotation != 1 {
		t.Fatalf("holding %d regions: probes %v, want all", len(few), got)
	}
}

// The probes' schedule: every sweep for a rotation (minProbeRounds at
// least) after a reset; then,
// after each round that learns nothing, 1, 2, 4, 8 sweeps skipped, and
// maxProbeSkip from there on; a round that learns a peer, or a reset,
// brings every sweep back.
func TestProbesBackOffAtRest(t *testing.T) {
	const rotation = 3
	var s sweepState
	// schedule runs sweeps and returns the gaps (sweeps skipped) before
	// each round of probes, the rounds learning what learns says.
	schedule := func(sweeps int, learns func(round int) bool) []int {
		var gaps []int
		gap, round := 0, 0
		for range sweeps {
			if !s.probeDue() {
				gap++
				continue
			}
			gaps = append(gaps, gap)
			gap = 0
			s.probed(learns(round), rotation)
			round++
		}
		return gaps
	}
	never := func(int) bool { return false }
	got := schedule(120, never)
	want := append(make([]int, minProbeRounds+1), 1, 2, 4, 8, 16, 16, 16, 16)
	if !slices.Equal(got[:min(len(got), len(want))], want) || slices.ContainsFunc(got[len(want)-1:], func(g int) bool { return g != maxProbeSkip }) {
		t.Fatalf("gaps before each round at rest: %v, want %v then %d", got, want, maxProbeSkip)
	}
	// A reset (a peer joined or left, a pass planned work) ends the
	// back-off at once: the next sweep probes, and so do the next
	// rotation's.
	s.resetProbes()
	if got := schedule(minProbeRounds+1, never); !slices.Equal(got, make([]int, minProbeRounds+1)) {
		t.Fatalf("gaps after a reset: %v, want every sweep for a rotation", got)
	}
	// A round that learns a peer does too.
	schedule(60, never)
	got = schedule(40, func(round int) bool { return round == 0 })
	if want := append(make([]int, minProbeRounds+1), 1); got[0] > maxProbeSkip || !slices.Equal(got[1:len(want)+1], want) {
		t.Fatalf("gaps after a round that learned a peer: %v, want %v", got, want)
	}
	// The bound: backed off, every region is probed within
	// (maxProbeSkip+1)·rotation sweeps.
	s.resetProbes()
	schedule(200, never)
	rounds := 0
	for range (maxProbeSkip + 1) * rotation {
		if s.probeDue() {
			rounds++
			s.probed(false, rotation)
		}
	}
	if rounds < rotation {
		t.Fatalf("backed off, %d rounds in %d sweeps, want a rotation (%d)", rounds, (maxProbeSkip+1)*rotation, rotation)
	}
}

// A node at rest probes less and less often (its passes plan nothing, its
// probes learn nothing). A holder of one of its regions dying does not
// bring the probes back, though the pass plans syncs for the dead one's
// ranges (and looks their holders up); the same peer joining again does:
// every sweep probes again, for a rotation.
func TestMemProbesBackOffUntilAPeerJoins(t *testing.T) {
	net := newMemNet(t, 12, 3, nil)
	ctx := longCtx(t)
	net.storeKeys("rest", 2000, net.order) // records in every region
	nd := net.node(net.order[0])
	m := nd.m
	// probing runs sweeps and counts those that looked anything up.
	probing := func(sweeps int) int {
		n := 0
		for range sweeps {
			before := m.lookups.Load()
			m.pass(ctx, true)
			if m.lookups.Load() > before {
				n++
			}
		}
		return n
	}
	m.pass(ctx, true)
	var fresh sweepState
	_, rotation := fresh.probes(m.sweeps.regions, m.self)
	rotation = max(rotation, minProbeRounds)
	if first := probing(rotation - 1); first != rotation-1 {
		t.Fatalf("%d of the first %d sweeps looked up, want all (a rotation)", first, rotation-1)
	}
	probing(1 + 2 + 4 + 8 + 4) // backing off
	if rest := probing(3 * (maxProbeSkip + 1)); rest > 3 || rest == 0 {
		t.Fatalf("backed off, %d of %d sweeps looked up, want one in %d", rest, 3*(maxProbeSkip+1), maxProbeSkip+1)
	}
	// A holder of a region this node holds dies: the pass plans that
	// region's syncs, and the probes stay backed off (a reset would set
	// probeIdle to 0 and probeSkip to 0, and every sweep would probe).
	var dead peer.ID
	for _, r := range m.sweeps.regions {
		if slices.Contains(r.holders, m.self) {
			if i := slices.IndexFunc(r.holders, func(h peer.ID) bool { return h != m.self }); i >= 0 {
				dead = r.holders[i]
				break
			}
		}
	}
	if dead == "" {
		t.Fatal("no other holder of a region this node holds")
	}
	net.kill(dead)
	idle := m.sweeps.probeIdle
	before := m.lookups.Load()
	m.pass(ctx, true)
	if m.lookups.Load() == before {
		t.Fatal("the pass after a holder died looked nothing up (no planned range)")
	}
	for i := range rotation {
		if m.sweeps.probeIdle < idle {
			t.Fatalf("sweep %d after a holder died: the probes were reset (%d idle rounds, were %d)", i+1, m.sweeps.probeIdle, idle)
		}
		m.pass(ctx, true)
	}
	// It joins again: every sweep of a rotation probes. (Whether a sweep
	// looks anything up also depends on what the join planned: a probe
	// leaves the ranges a pass syncs to its lookups, and a range without a
	// record here has no key to look up. CI once saw 7 of 8.)
	net.set(net.down, dead, false)
	for _, o := range net.nodes {
		if o.id != dead {
			o.known = append(o.known, dead)
		}
	}
	before = m.lookups.Load()
	for i := range rotation {
		m.pass(ctx, true)
		if m.sweeps.probeSkip != 0 {
			t.Fatalf("after a peer joined the table, sweep %d of %d skips its next probes (%d to skip)", i+1, rotation, m.sweeps.probeSkip)
		}
	}
	if m.lookups.Load() == before {
		t.Fatalf("after a peer joined the table, %d sweeps looked nothing up", rotation)
	}
	if st := m.Stats(); st.RepairLookupBytes != st.RepairLookups*memLookupBytes || st.RepairBytes < st.RepairLookupBytes || st.RepairBytesSent < st.RepairLookupBytes {
		t.Fatalf("repair lookups %d, their bytes %d (want %d each), in repair bytes %d, sent %d", st.RepairLookups, st.RepairLookupBytes, memLookupBytes, st.RepairBytes, st.RepairBytesSent)
	}
}

// A range whose holders a lookup confirmed is not looked up again while
// the peers stay the same, for verifiedTTL; among other peers it is.
func TestUnverifiedRanges(t *testing.T) {
	var s sweepState
	a, b := prefix{bits: 1}, prefix{id: [32]byte{0x80}, bits: 1}
	now := time.Now()
	peers, others := [32]byte{1}, [32]byte{2}
	check := func(key [32]byte, at time.Time, want ...prefix) {
		t.Helper()
		if got := s.unverified([]prefix{a, b}, key, at); !slices.Equal(got, want) {
			t.Fatalf("unverified: %v, want %v", got, want)
		}
	}
	check(peers, now, a, b)
	s.confirmed([]prefix{a}, now)
	check(peers, now.Add(verifiedTTL-time.Second), b)
	check(peers, now.Add(verifiedTTL), a, b)
	check(others, now, a, b)
	check(peers, now, a, b) // the confirmation among peers was forgotten
}

// Anti-entropy's check of its partners looks each range up once while the
// routing table stays the same, and again once it changes.
func TestMemVerifiedPartnersSkipTheirLookups(t *testing.T) {
	net := newMemNet(t, 8, 3, nil)
	ctx := longCtx(t)
	net.storeKeys("verified", 500, net.order)
	m := net.node(net.order[0]).m
	lookups := func(peers []peer.ID) uint64 {
		rs := regions(append(slices.Clone(peers), m.self), m.cfg.Factor)
		var due []partnerRound
		for p, ps := range regionPartners(m.self, rs) {
			due = append(due, partnerRound{peer: p, prefixes: ps})
		}
		before := m.lookups.Load()
		m.verifyPartners(ctx, rs, due)
		return m.lookups.Load() - before
	}
	table := m.router.tablePeers()
	if n := lookups(table); n == 0 {
		t.Fatal("the first check looked nothing up")
	}
	if n := lookups(table); n != 0 {
		t.Fatalf("the same table again: %d lookups, want none", n)
	}
	if n := lookups(table[1:]); n == 0 {
		t.Fatal("a table without a peer: no lookups")
	}
}
