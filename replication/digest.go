package replication

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
)

// Range digests for anti-entropy (antientropy.go, sync.go). A record's
// digest is 16 bytes of sha256(kad ID || wire form); a range's digest is the
// XOR of its records' digests, with their count. XOR lets a write update a
// digest in O(1): the old version is XORed out, the new one in (as Riak's
// TicTac trees do). Two holders whose digests of a range agree hold the same
// versions there.
//
// The digest table keeps the digest of every prefix of leafBits bits in
// memory (a fixed 2^leafBits × 24 bytes), built by one walk of the store at
// start and then updated from the store's change hook; a prefix at most
// leafBits long is the XOR of its leaves, a longer one (few records) is
// computed from the store.

// leafBits is the prefix length of the digest table's leaves: 2^14 leaves
// (384 KiB) hold about 2 records each at 40,000 records, 25 at 400,000.
// The table also keeps the digests of the blockBits-bit prefixes, so that
// any prefix's digest merges at most 2^7 entries.
const (
	leafBits  = 14
	blockBits = 7
)

// entryDigest is the digest of one record.
type entryDigest [16]byte

// digestOf returns the digest of the record with kad ID id and wire form wire.
func digestOf(id, wire []byte) entryDigest {
	h := sha256.New()
	h.Write(id)
	h.Write(wire)
	var d entryDigest
	copy(d[:], h.Sum(nil))
	return d
}

// rangeDigest summarises the records of a range.
type rangeDigest struct {
	sum   entryDigest
	count uint64
}

// add XORs e in; remove XORs it out.
func (d *rangeDigest) add(e entryDigest) {
	xorInto(&d.sum, e)
	d.count++
}

func (d *rangeDigest) remove(e entryDigest) {
	xorInto(&d.sum, e)
	d.count--
}

// merge adds the records of o.
func (d *rangeDigest) merge(o rangeDigest) {
	xorInto(&d.sum, o.sum)
	d.count += o.count
}

func xorInto(d *entryDigest, e entryDigest) {
	for i := range d {
		d[i] ^= e[i]
	}
}

// digestTable holds the digests of the leafBits-bit prefixes of one store.
type digestTable struct {
	store  *Store
	mu     sync.Mutex
	leaves []rangeDigest // nil until built
	blocks []rangeDigest // of 2^(leafBits-blockBits) leaves each
}

var errNoDigests = errors.New("range digests not built")

// newDigestTable registers the table with the store's change hook, then
// builds it with one walk of the store: nothing may write to the store
// meanwhile (call it before the store serves anything).
func newDigestTable(ctx context.Context, store *Store) (*digestTable, error) {
	t := &digestTable{store: store}
	store.onChange(t.changed)
	leaves, blocks := make([]rangeDigest, 1<<leafBits), make([]rangeDigest, 1<<blockBits)
	err := store.EachInRange(ctx, nil, nil, func(id []byte, r *Record, _ int) error {
		d := digestOf(id, r.Marshal())
		leaves[leafOf(id)].add(d)
		blocks[leafOf(id)>>(leafBits-blockBits)].add(d)
		return nil
	})
	if err != nil {
		return t, err
	}
	t.mu.Lock()
	t.leaves, t.blocks = leaves, blocks
	t.mu.Unlock()
	return t, nil
}

// leafOf returns the leaf index of a kad ID: its first leafBits bits.
func leafOf(id []byte) int {
	return (int(id[0])<<16 | int(id[1])<<8 | int(id[2])) >> (24 - leafBits)
}

// changed is the store's change hook.
func (t *digestTable) changed(id []byte, _ string, old, new []byte) {
	var out, in entryDigest
	if old != nil {
		out = digestOf(id, old)
	}
	if new != nil {
		in = digestOf(id, new)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.leaves == nil {
		return
	}
	leaf, block := &t.leaves[leafOf(id)], &t.blocks[leafOf(id)>>(leafBits-blockBits)]
	if old != nil {
		leaf.remove(out)
		block.remove(out)
	}
	if new != nil {
		leaf.add(in)
		block.add(in)
	}
}

// digest returns the digest of the records in p.
func (t *digestTable) digest(ctx context.Context, p prefix) (rangeDigest, error) {
	if p.bits <= leafBits {
		return t.fromLeaves(p)
	}
	var d rangeDigest
	lo, hi := p.bounds()
	err := t.store.EachInRange(ctx, lo, hi, func(id []byte, r *Record, _ int) error {
		d.add(digestOf(id, r.Marshal()))
		return nil
	})
	return d, err
}

// digests returns the digest of each prefix of ps and of all of them
// together.
func (t *digestTable) digests(ctx context.Context, ps []prefix) (each []rangeDigest, all rangeDigest, err error) {
	each = make([]rangeDigest, len(ps))
	for i, p := range ps {
		if each[i], err = t.digest(ctx, p); err != nil {
			return nil, rangeDigest{}, err
		}
		all.merge(each[i])
	}
	return each, all, nil
}

// parts returns the digests of the 2^splitBits(p) parts of p, in order.
func (t *digestTable) parts(ctx context.Context, p prefix) ([]rangeDigest, error) {
	n := splitBits(p)
	if p.bits+n <= leafBits {
		out := make([]rangeDigest, 1<<n)
		for i := range out {
			d, err := t.fromLeaves(p.extend(i, n))
			if err != nil {
				return nil, err
			}
			out[i] = d
		}
		return out, nil
	}
	out := make([]rangeDigest, 1<<n)
	lo, hi := p.bounds()
	err := t.store.EachInRange(ctx, lo, hi, func(id []byte, r *Record, _ int) error {
		out[p.partOf(id, n)].add(digestOf(id, r.Marshal()))
		return nil
	})
	return out, err
}

// fromLeaves merges the blocks or leaves under p (p.bits <= leafBits).
func (t *digestTable) fromLeaves(p prefix) (rangeDigest, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.leaves == nil {
		return rangeDigest{}, errNoDigests
	}
	under, bits := t.leaves, leafBits
	if p.bits <= blockBits {
		under, bits = t.blocks, blockBits
	}
	first := leafOf(p.id[:]) >> (leafBits - bits)
	var d rangeDigest
	for _, l := range under[first : first+1<<(bits-p.bits)] {
		d.merge(l)
	}
	return d, nil
}

// splitBits is how many bits a differing range is split by: 16 parts, or
// fewer at the end of the key.
func splitBits(p prefix) int { return min(4, idBits-p.bits) }

// extend returns the part i of p split by n bits.
func (p prefix) extend(i, n int) prefix {
	for b := n - 1; b >= 0; b-- {
		p = p.child(i >> b & 1)
	}
	return p
}

// partOf returns which of the 2^n parts of p holds the kad ID id.
func (p prefix) partOf(id []byte, n int) int {
	i := 0
	for b := p.bits; b < p.bits+n; b++ {
		i = i<<1 | int(id[b/8]>>(7-b%8)&1)
	}
	return i
}
