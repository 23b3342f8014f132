package replication

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The key space is the set of kad IDs (sha256 of a DHT key, 32 bytes), with
// XOR distance. A prefix is a subtree of it; a region is a prefix over which
// every key has the same k nearest peers (or, where peers that share a long
// prefix would cut it into thousands, a few more: tieSplits), so that two
// holders of a region hold the same records when in sync and can compare
// the region's digests with no per-key filtering.

// idBits is the length of a kad ID in bits.
const idBits = 256

// prefix is the set of kad IDs whose first bits bits equal those of id (the
// bits of id past them are zero).
type prefix struct {
	id   [32]byte
	bits int
}

// contains reports whether the kad ID kid lies in p.
func (p prefix) contains(kid []byte) bool {
	full := p.bits / 8
	if !bytes.Equal(kid[:full], p.id[:full]) {
		return false
	}
	if rest := p.bits % 8; rest != 0 {
		mask := byte(0xff) << (8 - rest)
		return kid[full]&mask == p.id[full]
	}
	return true
}

// child returns the half of p whose next bit is bit (0 or 1).
func (p prefix) child(bit int) prefix {
	c := prefix{id: p.id, bits: p.bits + 1}
	if bit == 1 {
		c.id[p.bits/8] |= 0x80 >> (p.bits % 8)
	}
	return c
}

// bounds returns the range [lo, hi) of kad IDs in p; hi is nil when p runs
// to the end of the key space.
func (p prefix) bounds() (lo, hi []byte) {
	lo = bytes.Clone(p.id[:])
	if p.bits == 0 {
		return lo, nil
	}
	// hi is the prefix plus one in its last bit, with a carry.
	end := p.id
	i := (p.bits - 1) / 8
	inc := byte(0x80) >> ((p.bits - 1) % 8)
	for ; i >= 0; i-- {
		sum := end[i] + inc
		end[i] = sum
		if sum >= inc { // no overflow out of this byte
			return lo, end[:]
		}
		inc = 1
	}
	return lo, nil // p was all ones: it runs to the end
}

// String returns p as hex digits of its bytes and its length, e.g. "a4/6".
func (p prefix) String() string {
	return fmt.Sprintf("%s/%d", hex.EncodeToString(p.id[:(p.bits+7)/8]), p.bits)
}

// prefixOf returns the prefix of length bits of the kad ID kid.
func prefixOf(kid []byte, bits int) prefix {
	var p prefix
	p.bits = bits
	full := bits / 8
	copy(p.id[:full], kid[:full])
	if rest := bits % 8; rest != 0 {
		p.id[full] = kid[full] & (byte(0xff) << (8 - rest))
	}
	return p
}

// region is a prefix over which the k peers nearest any key are the same set,
// its holders; or, for a region that tieSplits keeps from splitting, a few
// more than k peers, each among the k nearest some of its keys, which all
// hold all its keys.
type region struct {
	prefix  prefix
	holders []peer.ID // sorted by peer ID
	// partial are the holders among the k nearest of only some keys of a
	// region held by more than k (sorted; nil in the others): their
	// records there are those of their keys until a sync brings them the
	// region's.
	partial []peer.ID
}

// full returns the holders among the k nearest of every key of r.
func (r region) full() []peer.ID {
	return slices.DeleteFunc(slices.Clone(r.holders), func(p peer.ID) bool { return slices.Contains(r.partial, p) })
}

// regions partitions the whole key space into regions for the candidate
// holders peers (this node included, if it is one): the coarsest such
// prefixes, so that no two sibling regions have the same holders. Their
// depth is at most one more than the longest common prefix of two peers'
// kad IDs (about 2·log2 of the peer count for random IDs); for random IDs
// there are a few times as many regions as peers (tieSplits bounds the
// tail).
//
// A prefix P of length b has one top-k set iff, after sorting the peers by
// their distance to P, the k-th and (k+1)-th differ within their first b
// bits: peers that share the first b bits are ordered differently by
// different keys of P (each is the nearest for keys ending like it), peers
// that do not are ordered the same by every key of P.
func regions(peers []peer.ID, k int) []region {
	cands := make([]indexedPeer, 0, len(peers))
	for _, p := range peers {
		cands = append(cands, indexedPeer{id: p, kid: kb.ConvertPeerID(p)})
	}
	slices.SortFunc(cands, func(a, b indexedPeer) int { return bytes.Compare(a.kid, b.kid) })
	cands = slices.CompactFunc(cands, func(a, b indexedPeer) bool { return a.id == b.id })
	var out []region
	splitRegions(prefix{}, cands, max(k, 0), tieSplits, &out)
	return out
}

// tieSplits bounds how far regions split to separate peers that share a
// long prefix. The holders of a key of a prefix p depend on the key's bits
// past p where the k-th and (k+1)-th nearest peers share p's bits (they are
// tied); if the tied peers also share the next d bits, they part only at
// bit p.bits+d, and an exact partition cuts p into 2^d prefixes nearly all
// with the same holders, and again under each for a tie nested there.
// Exact regions of 200 random networks of 20 peers at k = 8 numbered 51 in
// the median, 2,120 in the 99th percentile and 4,123 at most (65,585 in
// another 200), of 300 peers 1,324, 30,262 and 67,253, and every pass's
// planning, syncs, probes and digests with them; two of 20 peers share 20
// bits about once in 5,000 networks, and computing such a network's exact
// regions did not end within minutes. So along a path from the whole key
// space at most tieSplits splits may leave the tied peers tied; a prefix
// whose tie would need more is one region held by all its candidates (one
// or two more than k: its partial holders), whose keys all its holders keep
// once a sync has brought them. For the same networks that makes 49, 413
// and 616 regions at 20 peers, with no extra copies in the median network
// and 0.8 % of the keys' copies in the 99th percentile; at 300 peers 1,064,
// 2,367 and 3,005, 0.24 % extra in the 99th percentile
// (BenchmarkRegionsOfRandomNetworks). A smaller bound makes fewer regions
// and more extra copies (3: 42 regions in the median and 2.3 % extra in
// the 99th percentile at 20 peers). TestRegionsStayFew.
const tieSplits = 6

// splitRegions appends to out the regions of p, whose top-k peers all lie in
// cands (which it reorders), splitting at most budget more times where the
// split leaves the tied peers tied (tieSplits).
func splitRegions(p prefix, cands []indexedPeer, k, budget int, out *[]region) {
	var partial []peer.ID
	if len(cands) > k {
		slices.SortFunc(cands, func(a, b indexedPeer) int { return xorCompare(a.kid, b.kid, p.id[:]) })
		n := k
		if k > 0 && sharePrefix(cands[k-1].kid, cands[k].kid, p.bits) {
			// The k-th and (k+1)-th are ordered by the key: the peers
			// tied with the k-th, cands[lo:n], are each among the k
			// nearest to some key of p; those past them to none.
			for n < len(cands) && sharePrefix(cands[k-1].kid, cands[n].kid, p.bits) {
				n++
			}
			lo := k - 1
			for lo > 0 && sharePrefix(cands[k-1].kid, cands[lo-1].kid, p.bits) {
				lo--
			}
			if useless := commonBits(cands[lo].kid, cands[n-1].kid) - p.bits; useless <= budget {
				budget -= min(useless, 1)
				splitRegions(p.child(0), slices.Clone(cands[:n]), k, budget, out)
				splitRegions(p.child(1), cands[:n], k, budget, out)
				// Halves that both stopped at a deep tie may have the
				// same holders: then p is one region.
				if rs := *out; len(rs) >= 2 && rs[len(rs)-2].prefix == p.child(0) && rs[len(rs)-1].prefix == p.child(1) &&
					slices.Equal(rs[len(rs)-2].holders, rs[len(rs)-1].holders) && slices.Equal(rs[len(rs)-2].partial, rs[len(rs)-1].partial) {
					last := rs[len(rs)-1]
					last.prefix = p
					*out = append(rs[:len(rs)-2], last)
				}
				return
			}
			// The tied peers part deeper than budget allows: p is
			// one region held by all of them.
			partial = sortedIDs(cands[lo:n])
		}
		cands = cands[:n]
	}
	*out = append(*out, region{prefix: p, holders: sortedIDs(cands), partial: partial})
}

// sortedIDs returns the peer IDs of cands, sorted.
func sortedIDs(cands []indexedPeer) []peer.ID {
	out := ids(cands)
	slices.Sort(out)
	return out
}

// commonBits returns the length in bits of the common prefix of a and b.
func commonBits(a, b []byte) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return len(a) * 8
}

// xorCompare orders a and b by their XOR distance to target.
func xorCompare(a, b, target []byte) int {
	for i := range target {
		if x, y := a[i]^target[i], b[i]^target[i]; x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// sharePrefix reports whether a and b agree in their first bits bits.
func sharePrefix(a, b []byte, bits int) bool {
	return prefixOf(a, bits) == prefixOf(b, bits)
}
