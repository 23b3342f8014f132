package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// ErrStorageFull is a store's refusal of a record that would take its value
// records past the storage limit (Store.LimitBytes): a record of a key it
// does not hold, or a replacement bigger than the copy it holds. Replacements
// that are no bigger, and deletes, are always taken, and nothing stored is
// ever dropped to make room. Holders send it back as an error answer, which
// the writer counts as a failed holder (transport.answerError).
var ErrStorageFull = errors.New("storage full")

// quotaDatastore counts the bytes of the value records stored through it and
// refuses, with ErrStorageFull, a value record that would take them past max.
// It sits under orderedDatastore, whose per-key lock serialises the writes of
// one key, so the size it reads before a write is the size the write
// replaces. Without a limit (max 0) it passes every call through uncounted.
type quotaDatastore struct {
	ds.Batching
	max  atomic.Int64 // 0: no limit, nothing counted
	used atomic.Int64 // stored bytes of the value records (their stored form)
}

// limit sets the limit to max bytes (0: none) and counts the value records
// already stored. Call it before the store takes writes: a write during the
// count may be counted twice or not at all.
func (q *quotaDatastore) limit(ctx context.Context, limit int64) error {
	if limit < 0 {
		return fmt.Errorf("storage limit %d < 0", limit)
	}
	var used int64
	if limit > 0 {
		res, err := q.Batching.Query(ctx, dsq.Query{Prefix: valueKeyPrefix, ReturnsSizes: true})
		if err != nil {
			return err
		}
		defer res.Close()
		for e := range res.Next() {
			if e.Error != nil {
				return e.Error
			}
			used += int64(max(e.Size, len(e.Value)))
		}
	}
	q.used.Store(used)
	q.max.Store(limit)
	return nil
}

// Put stores value under k, first checking the limit if k is a value record.
func (q *quotaDatastore) Put(ctx context.Context, k ds.Key, value []byte) error {
	max := q.max.Load()
	if max == 0 || !strings.HasPrefix(k.String(), valueKeyPrefix) {
		return q.Batching.Put(ctx, k, value)
	}
	old, err := q.Batching.GetSize(ctx, k)
	switch {
	case errors.Is(err, ds.ErrNotFound):
		old = 0
	case err != nil:
		return err
	}
	delta := int64(len(value) - old)
	if delta > 0 && !q.reserve(delta, max) {
		return fmt.Errorf("%w: %d of %d bytes used, a record of %d bytes does not fit", ErrStorageFull, q.used.Load(), max, len(value))
	}
	if err := q.Batching.Put(ctx, k, value); err != nil {
		if delta > 0 {
			q.used.Add(-delta)
		}
		return err
	}
	if delta <= 0 {
		q.used.Add(delta)
	}
	return nil
}

// reserve adds delta to the bytes used unless that would pass max.
func (q *quotaDatastore) reserve(delta, max int64) bool {
	for {
		cur := q.used.Load()
		if cur+delta > max {
			return false
		}
		if q.used.CompareAndSwap(cur, cur+delta) {
			return true
		}
	}
}

// Delete removes k, uncounting it if it is a value record.
func (q *quotaDatastore) Delete(ctx context.Context, k ds.Key) error {
	if q.max.Load() == 0 || !strings.HasPrefix(k.String(), valueKeyPrefix) {
		return q.Batching.Delete(ctx, k)
	}
	size, err := q.Batching.GetSize(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return q.Batching.Delete(ctx, k)
	}
	if err != nil {
		return err
	}
	if err := q.Batching.Delete(ctx, k); err != nil {
		return err
	}
	q.used.Add(-int64(size))
	return nil
}

// StorageUsage is what a store's value records take against its limit.
type StorageUsage struct {
	MaxBytes  int64 // the limit; 0 = none
	UsedBytes int64 // counted only under a limit
	// Full is set when a record of the largest value size the store's
	// validator allows would be refused.
	Full bool
}

// LimitBytes caps the bytes of the value records the store keeps at max
// (0: no cap): past it, records of new keys and bigger replacements are
// refused with ErrStorageFull. It counts what is stored already, so call it
// before the store takes writes.
func (s *Store) LimitBytes(ctx context.Context, max int64) error {
	return s.quota.limit(ctx, max)
}

// Usage reports the store's bytes against its limit.
func (s *Store) Usage() StorageUsage {
	max := s.quota.max.Load()
	if max == 0 {
		return StorageUsage{}
	}
	used := s.quota.used.Load()
	return StorageUsage{MaxBytes: max, UsedBytes: used, Full: used+int64(s.valid.MaxValueSize+recordRoom) > max}
}

// recordRoom is what a stored record takes besides its value: the
// envelope, signature and kad-dht wrapper (a generous bound).
const recordRoom = 1 << 10

// StorageUsage reports the local store's bytes against its limit.
func (m *Manager) StorageUsage() StorageUsage { return m.store.Usage() }
