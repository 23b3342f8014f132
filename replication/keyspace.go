package replication

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The key space is the set of kad IDs (sha256 of a DHT key, 32 bytes), with
// XOR distance. A prefix is a subtree of it; a region is a prefix over which
// every key has the same k nearest peers, so that two holders of a region
// hold the same records when in sync and can compare the region's digests
// with no per-key filtering.

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

// region is a prefix over which the k peers nearest any key are the same set.
type region struct {
	prefix  prefix
	holders []peer.ID // sorted by peer ID, len <= k
}

// regions partitions the whole key space into regions for the candidate
// holders peers (this node included, if it is one): the coarsest such
// prefixes, so that no two sibling regions have the same holders. Their
// depth is at most one more than the longest common prefix of two peers'
// kad IDs (about 2·log2 of the peer count for random IDs); for random IDs
// there are a few times as many regions as peers (3 to 5 in the tests).
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
	splitRegions(prefix{}, cands, max(k, 0), &out)
	return out
}

// splitRegions appends to out the regions of p, whose top-k peers all lie in
// cands (which it reorders).
func splitRegions(p prefix, cands []indexedPeer, k int, out *[]region) {
	if len(cands) > k {
		slices.SortFunc(cands, func(a, b indexedPeer) int { return xorCompare(a.kid, b.kid, p.id[:]) })
		if k > 0 && sharePrefix(cands[k-1].kid, cands[k].kid, p.bits) {
			// The k-th and (k+1)-th are ordered by the key: split, keeping
			// only the peers that are among the k nearest to some key of p.
			n := k
			for n < len(cands) && sharePrefix(cands[k-1].kid, cands[n].kid, p.bits) {
				n++
			}
			splitRegions(p.child(0), slices.Clone(cands[:n]), k, out)
			splitRegions(p.child(1), cands[:n], k, out)
			return
		}
		cands = cands[:k]
	}
	holders := ids(cands)
	slices.Sort(holders)
	*out = append(*out, region{prefix: p, holders: holders})
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
