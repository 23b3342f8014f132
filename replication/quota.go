package replication

import (
	"errors"
	"fmt"
)

// ErrStorageFull is a store's refusal of a record that would take its
// records past the storage limit (Store.LimitBytes): a record of a key it
// does not hold, or a replacement bigger than the copy it holds. Replacements
// that are no bigger, and deletes, are always taken, and nothing stored is
// ever dropped to make room. Holders send it back as an error answer, which
// the writer counts as a failed holder (transport.answerError).
var ErrStorageFull = errors.New("storage full")

// reserve counts delta more stored bytes for an entry of size bytes about to
// be written, unless that would pass the storage limit: then it counts
// nothing and returns ErrStorageFull. The writer gives the bytes back if the
// write fails. Writes of one key are serialised by its lock, so the size a
// write replaces is the size it read.
func (s *Store) reserve(delta int64, size int) error {
	for {
		max, cur := s.max.Load(), s.bytes.Load()
		if max > 0 && cur+delta > max {
			return fmt.Errorf("%w: %d of %d bytes used, a record of %d bytes does not fit", ErrStorageFull, cur, max, size)
		}
		if s.bytes.CompareAndSwap(cur, cur+delta) {
			return nil
		}
	}
}

// StorageUsage is what a store's records take against its limit.
type StorageUsage struct {
	MaxBytes  int64 // the limit; 0 = none
	UsedBytes int64 // reported only under a limit
	// Full is set when a record of the largest value size the store's
	// validator allows would be refused.
	Full bool
}

// LimitBytes caps the stored bytes of the store's records at max (0: no
// cap): past it, records of new keys and bigger replacements are refused
// with ErrStorageFull.
func (s *Store) LimitBytes(max int64) error {
	if max < 0 {
		return fmt.Errorf("storage limit %d < 0", max)
	}
	s.max.Store(max)
	return nil
}

// Usage reports the store's bytes against its limit.
func (s *Store) Usage() StorageUsage {
	max := s.max.Load()
	if max == 0 {
		return StorageUsage{}
	}
	used := s.bytes.Load()
	return StorageUsage{MaxBytes: max, UsedBytes: used, Full: used+int64(s.valid.MaxValueSize+recordRoom) > max}
}

// recordRoom is what a stored record takes besides its value: the key,
// envelope and signature (a generous bound).
const recordRoom = 1 << 10

// StorageUsage reports the local store's bytes against its limit.
func (m *Manager) StorageUsage() StorageUsage { return m.store.Usage() }
