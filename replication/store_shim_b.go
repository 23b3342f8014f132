package replication

// TEMPORARY (i20b): Store.EachInRange and Store.Counts over the old layout
// (Each plus a filter), until i17s's store lands; deleted at merge.

import (
	"bytes"
	"context"
	"slices"

	kb "github.com/libp2p/go-libp2p-kbucket"
)

// EachInRange calls fn, in kad-ID order, for every stored record whose kad
// ID lies in [lo, hi) (hi nil: to the end of the key space).
func (s *Store) EachInRange(ctx context.Context, lo, hi []byte, fn func(id []byte, r *Record, size int) error) error {
	type entry struct {
		id   []byte
		r    *Record
		size int
	}
	var in []entry
	err := s.Each(ctx, func(r *Record, size int) error {
		id := []byte(kb.ConvertKey(DHTKey(r.Key)))
		if bytes.Compare(id, lo) >= 0 && (hi == nil || bytes.Compare(id, hi) < 0) {
			in = append(in, entry{id, r, size})
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(in, func(a, b entry) int { return bytes.Compare(a.id, b.id) })
	for _, e := range in {
		if err := fn(e.id, e.r, e.size); err != nil {
			return err
		}
	}
	return nil
}

// Counts returns the number of records and their stored bytes.
func (s *Store) Counts() (records int, bytes int64) {
	_ = s.Each(context.Background(), func(_ *Record, size int) error {
		records++
		bytes += int64(size)
		return nil
	})
	return records, bytes
}
