package replication

import (
	"encoding/binary"
	"sync/atomic"
)

// keyFilter is a Bloom filter of the kad IDs under which the datastore may
// hold a record. A holder's store is asked mostly about keys it does not
// have: every CREATE of a new key (each of a put's k holders) reads the key
// first, and that LevelDB read of nothing (the memtable, then the index and
// Bloom filter blocks of each level-0 table and of a table per level) cost
// about a tenth of the nodes' CPU during a load. A key the filter has never
// seen is not in the datastore, so the read is skipped.
//
// An ID is added before its entry is written, under the key's lock, and at
// open for every entry found (NewStore's count, and migrate): a key the
// datastore holds is always in the filter. Deletes leave the ID in, and
// other IDs may share its bits: both only cost a read that finds nothing.
// Kad IDs are SHA-256 digests, so the filter takes its bit positions from
// the ID's last bytes without hashing; the first bytes are not used, as a
// holder's keys share a prefix (its region of the key space).
type keyFilter struct {
	words []atomic.Uint64
}

// keyFilterBits is log2 of the filter's size in bits: 2^22 bits (512 KiB)
// with keyFilterProbes bit positions per ID answer "maybe" for about 1 in
// 45,000 absent keys at 40,000 records, 1 in 65 at 400,000 and 1 in 8 at
// 1,000,000 (an absent key then costs the read it costs without a filter).
const (
	keyFilterBits   = 22
	keyFilterProbes = 3
)

func newKeyFilter() *keyFilter {
	return &keyFilter{words: make([]atomic.Uint64, 1<<(keyFilterBits-6))}
}

// positions returns the ID's bit positions. id is a 32-byte kad ID; a
// shorter one (never stored) is padded, to stay safe.
func (f *keyFilter) positions(id []byte) [keyFilterProbes]uint32 {
	var tail [4 * keyFilterProbes]byte
	copy(tail[:], id[max(len(id)-len(tail), 0):])
	var pos [keyFilterProbes]uint32
	for i := range pos {
		pos[i] = binary.LittleEndian.Uint32(tail[4*i:]) & (1<<keyFilterBits - 1)
	}
	return pos
}

// add records that the datastore may hold id.
func (f *keyFilter) add(id []byte) {
	if f == nil {
		return
	}
	for _, p := range f.positions(id) {
		w := &f.words[p>>6]
		if bit := uint64(1) << (p & 63); w.Load()&bit == 0 {
			w.Or(bit)
		}
	}
}

// mayHave reports whether the datastore may hold id; false means it does
// not. A nil filter (a Store built without NewStore) has everything.
func (f *keyFilter) mayHave(id []byte) bool {
	if f == nil {
		return true
	}
	for _, p := range f.positions(id) {
		if f.words[p>>6].Load()&(uint64(1)<<(p&63)) == 0 {
			return false
		}
	}
	return true
}
