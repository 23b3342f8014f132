package replication

import (
	"slices"
	"testing"

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
		got := s.probes(cur, self)
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
	if got := s.probes(cur, self); slices.ContainsFunc(got, func(p prefix) bool { return seen[p] > 1 }) {
		t.Fatalf("the next sweep probes %v again before the others", got)
	}
	few := regions(peers[:3], 8) // one region, the whole key space
	if got := s.probes(few, self); len(got) != 1 {
		t.Fatalf("holding %d regions: probes %v, want all", len(few), got)
	}
}
