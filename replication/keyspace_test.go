package replication

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// bruteNearest returns the k of peers nearest the kad ID kid, sorted by peer
// ID: the holders a region over kid must have.
func bruteNearest(peers []peer.ID, kid []byte, k int) []peer.ID {
	near := kb.SortClosestPeers(peers, kid)
	near = slices.Clone(near[:min(k, len(near))])
	slices.Sort(near)
	return near
}

// deepTie reports whether two holders of rg share a bit past its prefix:
// a region held by more than k (tieSplits) has tied peers that do.
func deepTie(rg region) bool {
	for i, a := range rg.holders {
		for _, b := range rg.holders[i+1:] {
			if commonBits(kb.ConvertPeerID(a), kb.ConvertPeerID(b)) > rg.prefix.bits {
				return true
			}
		}
	}
	return false
}

// keyIn returns a random kad ID in p.
func keyIn(r *rand.Rand, p prefix) []byte {
	kid := make([]byte, 32)
	for i := range kid {
		kid[i] = byte(r.Uint32())
	}
	return withPrefix(kid, p)
}

// withPrefix returns kid with its first p.bits bits replaced by p's: the
// kad ID of p that ends like kid.
func withPrefix(kid []byte, p prefix) []byte {
	kid = bytes.Clone(kid)
	full := p.bits / 8
	copy(kid, p.id[:full])
	if rest := p.bits % 8; rest != 0 {
		mask := byte(0xff) << (8 - rest)
		kid[full] = p.id[full] | kid[full]&^mask
	}
	return kid
}

// checkRegions checks the properties of regions(peers, k) that the
// anti-entropy and the planner rely on.
func checkRegions(t *testing.T, r *rand.Rand, peers []peer.ID, k int) []region {
	t.Helper()
	rs := regions(peers, k)
	if len(rs) == 0 {
		t.Fatal("no regions")
	}
	// They cover the key space in order, without overlap: each starts
	// where the previous one ends.
	var next []byte = make([]byte, 32)
	for i, rg := range rs {
		lo, hi := rg.prefix.bounds()
		if !bytes.Equal(lo, next) {
			t.Fatalf("region %d (%v) starts at %x, want %x", i, rg.prefix, lo, next)
		}
		if hi == nil && i != len(rs)-1 {
			t.Fatalf("region %d (%v) of %d runs to the end", i, rg.prefix, len(rs))
		}
		next = hi
	}
	if next != nil {
		t.Fatalf("the last region ends at %x, not at the end of the key space", next)
	}
	// Random keys of each region have their k nearest among the region's
	// holders (all of them, in a region of k), and each holder is among
	// the k nearest of the region's key that ends like its kad ID. More
	// than k only where tieSplits cut the region short: two of them share
	// a bit past it.
	for _, rg := range rs {
		if !slices.IsSorted(rg.holders) {
			t.Fatalf("region %v: holders %v not sorted", rg.prefix, rg.holders)
		}
		if (len(rg.holders) > k) != (len(rg.partial) > 0) || !slices.IsSorted(rg.partial) ||
			slices.ContainsFunc(rg.partial, func(p peer.ID) bool { return !slices.Contains(rg.holders, p) }) {
			t.Fatalf("region %v: holders %v, partial %v", rg.prefix, rg.holders, rg.partial)
		}
		if len(rg.holders) > k && !deepTie(rg) {
			t.Fatalf("region %v: %d holders, more than %d with no tie past it", rg.prefix, len(rg.holders), k)
		}
		for range 4 {
			kid := keyIn(r, rg.prefix)
			if !rg.prefix.contains(kid) {
				t.Fatalf("keyIn(%v) = %x, not in it", rg.prefix, kid)
			}
			want := bruteNearest(peers, kid, k)
			if len(rg.holders) <= k && !slices.Equal(rg.holders, want) ||
				slices.ContainsFunc(want, func(p peer.ID) bool { return !slices.Contains(rg.holders, p) }) ||
				slices.ContainsFunc(rg.full(), func(p peer.ID) bool { return !slices.Contains(want, p) }) {
				t.Fatalf("region %v, key %x: holders %v (partial %v), the %d nearest are %v", rg.prefix, kid, rg.holders, rg.partial, k, want)
			}
		}
		for _, h := range rg.holders {
			kid := withPrefix(kb.ConvertPeerID(h), rg.prefix)
			if !slices.Contains(bruteNearest(peers, kid, k), h) {
				t.Fatalf("region %v: holder %v is not among the %d nearest of %x", rg.prefix, h, k, kid)
			}
		}
	}
	// Coarsest: two sibling regions never have the same holders (their
	// parent would then be one region).
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if a.prefix.bits == b.prefix.bits && a.prefix.bits > 0 &&
			prefixOf(a.prefix.id[:], a.prefix.bits-1) == prefixOf(b.prefix.id[:], b.prefix.bits-1) &&
			slices.Equal(a.holders, b.holders) {
			t.Fatalf("sibling regions %v and %v both have holders %v", a.prefix, b.prefix, a.holders)
		}
	}
	// Bounded depth: no deeper than one past the longest common prefix of two peers.
	longest := 0
	kids := make([][]byte, len(peers))
	for i, p := range peers {
		kids[i] = kb.ConvertPeerID(p)
	}
	slices.SortFunc(kids, bytes.Compare)
	for i := 1; i < len(kids); i++ {
		longest = max(longest, commonBits(kids[i-1], kids[i]))
	}
	for _, rg := range rs {
		if rg.prefix.bits > longest+1 {
			t.Fatalf("region %v deeper than %d (longest common prefix of two peers + 1)", rg.prefix, longest+1)
		}
	}
	return rs
}

func TestRegionsProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	all := randomPeers(t, 200)
	for _, n := range []int{1, 2, 5, 9, 20, 64, 200} {
		for _, k := range []int{1, 2, 3, 8, 20} {
			rs := checkRegions(t, r, all[:n], k)
			if n <= k && len(rs) != 1 {
				t.Fatalf("%d peers, k = %d: %d regions, want the whole key space as one", n, k, len(rs))
			}
			t.Logf("%d peers, k = %d: %d regions", n, k, len(rs))
		}
	}
}

func TestRegionsEdgeCases(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	if rs := regions(nil, 8); len(rs) != 1 || rs[0].prefix.bits != 0 || len(rs[0].holders) != 0 {
		t.Fatalf("no peers: %v, want one empty region over everything", rs)
	}
	ps := randomPeers(t, 12)
	if rs := regions(ps, 0); len(rs) != 1 || len(rs[0].holders) != 0 {
		t.Fatalf("k = 0: %v, want one empty region over everything", rs)
	}
	// Duplicates count once.
	dup := append(slices.Clone(ps), ps[:6]...)
	want := checkRegions(t, r, ps, 3)
	got := regions(dup, 3)
	if !slices.EqualFunc(got, want, func(a, b region) bool {
		return a.prefix == b.prefix && slices.Equal(a.holders, b.holders)
	}) {
		t.Fatalf("with duplicates: %v, want %v", got, want)
	}
}

func TestPrefixBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var ones prefix
	for i := range ones.id {
		ones.id[i] = 0xff
	}
	for _, b := range []int{1, 7, 8, 9, 255, 256} {
		p := prefixOf(ones.id[:], b)
		if lo, hi := p.bounds(); hi != nil || !p.contains(lo) {
			t.Fatalf("%v: bounds %x, %x, want it to run to the end", p, lo, hi)
		}
	}
	for range 500 {
		p := prefixOf(keyIn(r, prefix{}), r.IntN(idBits+1))
		lo, hi := p.bounds()
		if !p.contains(lo) {
			t.Fatalf("%v does not contain its start %x", p, lo)
		}
		kid := keyIn(r, p)
		if bytes.Compare(kid, lo) < 0 || hi != nil && bytes.Compare(kid, hi) >= 0 {
			t.Fatalf("%v: key %x outside [%x, %x)", p, kid, lo, hi)
		}
		if hi != nil && p.contains(hi) {
			t.Fatalf("%v contains its end %x", p, hi)
		}
		if p.bits < idBits {
			c := p.child(int(kid[p.bits/8]>>(7-p.bits%8)) & 1)
			if !c.contains(kid) || c != prefixOf(kid, p.bits+1) {
				t.Fatalf("%v: child %v does not hold %x", p, c, kid)
			}
		}
	}
}

func BenchmarkRegions(b *testing.B) {
	peers := randomPeers(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		regions(peers, 8)
	}
}

// BenchmarkRegionsOfRandomNetworks computes the regions of 200 random
// networks (seeded) per size and reports, besides the time, how many there
// are (median, 99th percentile, most) and the extra copies that regions
// held by more than k keep (tieSplits), in % of the keys' k copies.
func BenchmarkRegionsOfRandomNetworks(b *testing.B) {
	for _, c := range []struct{ n, k int }{{12, 3}, {20, 8}, {100, 8}, {300, 8}} {
		b.Run(fmt.Sprintf("n=%d,k=%d", c.n, c.k), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(c.n), uint64(c.k)))
			nets := make([][]peer.ID, 200)
			for i := range nets {
				for range c.n {
					nets[i] = append(nets[i], peer.ID(fmt.Sprintf("peer-%d", r.Uint64())))
				}
			}
			i := 0
			for b.Loop() {
				regions(nets[i%len(nets)], c.k)
				i++
			}
			counts, extras := make([]float64, len(nets)), make([]float64, len(nets))
			for i, ps := range nets {
				rs := regions(ps, c.k)
				counts[i] = float64(len(rs))
				for _, rg := range rs {
					if len(rg.holders) > c.k { // the share of the key space times the extra copies
						extras[i] += 100 * float64(len(rg.holders)-c.k) / float64(c.k) / math.Exp2(float64(rg.prefix.bits))
					}
				}
			}
			slices.Sort(counts)
			slices.Sort(extras)
			b.ReportMetric(counts[len(counts)/2], "regions-median")
			b.ReportMetric(counts[len(counts)*99/100], "regions-p99")
			b.ReportMetric(counts[len(counts)-1], "regions-max")
			b.ReportMetric(extras[len(extras)/2], "extra-copies-%-median")
			b.ReportMetric(extras[len(extras)*99/100], "extra-copies-%-p99")
		})
	}
}

// sharingPeers returns n peers (IDs made up from seed: regions reads only
// their kad IDs) of which the first two share the first bits bits of their
// kad IDs.
func sharingPeers(seed uint64, n, bits int) []peer.ID {
	r := rand.New(rand.NewPCG(seed, seed))
	byPrefix := map[prefix]peer.ID{}
	for {
		p := peer.ID(fmt.Sprintf("peer-%d", r.Uint64()))
		pre := prefixOf(kb.ConvertPeerID(p), bits)
		if q, ok := byPrefix[pre]; ok {
			out := []peer.ID{q, p}
			for len(out) < n {
				out = append(out, peer.ID(fmt.Sprintf("peer-%d", r.Uint64())))
			}
			return out
		}
		byPrefix[pre] = p
	}
}

// Two peers whose kad IDs share a long prefix do not cut the key space into
// thousands of regions (tieSplits): exact regions of networks like these
// numbered millions.
func TestRegionsStayFew(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for seed := range uint64(8) {
		peers := sharingPeers(seed, 20, 22)
		for _, k := range []int{3, 8} {
			rs := checkRegions(t, r, peers, k)
			if limit := len(peers) << (tieSplits + 1); len(rs) > limit {
				t.Fatalf("seed %d, k = %d: %d regions, want at most %d", seed, k, len(rs), limit)
			}
			t.Logf("seed %d, k = %d: %d regions", seed, k, len(rs))
		}
	}
}
