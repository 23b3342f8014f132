package replication

import (
	"fmt"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDoubtedIn: the regions this node holds with a doubted peer, or with
// one that left or came back since the last pass (flapped, then planning
// until the pass has counted its syncs), count; the others, and the
// regions it does not hold, do not.
func TestDoubtedIn(t *testing.T) {
	ps := peersByDistance(t, 5)
	self := ps[0]
	r00 := regionOfPeers(mustPrefix("00"), ps, 0, 1)
	r01 := regionOfPeers(mustPrefix("01"), ps, 0, 2)
	r1 := regionOfPeers(mustPrefix("1"), ps, 3, 4) // not held
	var s sweepState
	s.setHeld([]region{r00, r01, r1}, self)
	doubts := map[peer.ID]bool{}
	doubted := func(p peer.ID) bool { return doubts[p] }
	check := func(name string, want ...prefix) {
		t.Helper()
		got, _ := s.doubtedIn(self, doubted)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: doubted regions %v, want %v", name, got, want)
		}
	}
	check("nobody doubted")
	doubts[ps[1]] = true
	check("a co-holder doubted", r00.prefix)
	doubts[ps[3]], doubts[ps[0]] = true, true
	check("a peer of a region not held, and self, doubted", r00.prefix)
	clear(doubts)
	check("the doubt cleared (the peer answered)")
	s.noteChanged(ps[2])
	check("a co-holder left the table", r01.prefix)
	s.takeChanged()
	check("a pass is planning", r01.prefix)
	s.setCounted([]prefix{mustPrefix("010")}, 7)
	if got, counted := s.doubtedIn(self, nil); len(got) != 0 || !slices.Equal(counted, []prefix{mustPrefix("010")}) {
		t.Fatalf("once the pass counted its syncs: doubted %v, counted %v; want none, [010]", got, counted)
	}
	if n := s.underReplicated.Load(); n != 7 {
		t.Fatalf("the pass's count is %d, want 7", n)
	}
}

// TestUnderReplicatedCountsDoubtedRegionsOnce: Stats counts the records of
// the regions held with a doubted peer, from the digest counts, and a
// record also in a range the pass counts only once.
func TestUnderReplicatedCountsDoubtedRegionsOnce(t *testing.T) {
	net := newMemNet(t, 4, 2, nil)
	self := net.order[0]
	m := net.node(self).m
	rs := regions(net.order, net.k)
	var held []region
	for _, r := range rs {
		if slices.Contains(r.holders, self) {
			held = append(held, r)
		}
	}
	r := held[0]
	other := r.holders[slices.IndexFunc(r.holders, func(p peer.ID) bool { return p != self })]
	want := 0 // the records of self's regions held with other
	for _, h := range held {
		if slices.Contains(h.holders, other) {
			for i := range 3 {
				net.store(self, namedIn(fmt.Sprintf("k%d-%d", want, i), h.prefix, func([]byte) bool { return true }), "v", 1)
			}
			want += 3
		}
	}
	m.sweeps.setHeld(rs, self)
	if got := m.Stats().UnderReplicated; got != 0 {
		t.Fatalf("nobody doubted: %d under-replicated, want 0", got)
	}
	m.doubted = func(p peer.ID) bool { return p == other }
	if got := m.Stats().UnderReplicated; got != want {
		t.Fatalf("a co-holder doubted: %d under-replicated, want %d", got, want)
	}
	m.sweeps.setCounted([]prefix{r.prefix}, 3) // a pass syncing one of those regions
	if got := m.Stats().UnderReplicated; got != want {
		t.Fatalf("a co-holder doubted while a pass syncs one of its regions: %d under-replicated, want %d", got, want)
	}
	m.doubted = func(peer.ID) bool { return false }
	if got := m.Stats().UnderReplicated; got != 3 {
		t.Fatalf("the doubt cleared while the pass syncs: %d under-replicated, want 3", got)
	}
}
