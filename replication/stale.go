package replication

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
)

// A node that was down for longer than the tombstone retention may hold
// values that were deleted meanwhile and whose tombstones the other holders
// have since dropped: served or pushed as they are, they would come back.
// Such a node sets its records aside at start (Store.SetAside), out of
// reads, writes and repair, and settles each with the network before it
// serves it again (Manager.settleStale):
//
//   - some other holder has a record of the key: the key's history is in
//     the network, so the set-aside copy is put back only if it outranks
//     the best of those records (Record.Compare, as repair would decide),
//     and dropped otherwise (repair brings the network's copy);
//   - none has, and a majority of the holders asked answered that they
//     have no copy: no acknowledged write can be alive among them, so the
//     key was deleted (or expired) while this node was down, and the copy
//     is dropped;
//   - every holder that answered has set its own copy aside too (the
//     whole network was down): the copy is put back;
//   - otherwise (too few answers): the key is asked about again later.
//
// A holder asked for a key it has set aside answers statusSetAside, which
// clients count as a failed holder.

// statusSetAside answers a GET or READ of a key whose copy the holder has
// set aside until it has settled it with the network.
const statusSetAside byte = 8

// errSetAside is a holder's statusSetAside answer.
var errSetAside = errors.New("holder has only a set-aside copy from before a long downtime")

// staleCount counts the set-aside records of a store, so that a store with
// none answers GETs without looking for one.
type staleCount struct{ n atomic.Int64 }

// setAsideChunk is how many records SetAside moves per datastore batch.
const setAsideChunk = 256

// SetAside moves every stored record out of the store's view (to the
// set-aside keys, asidePrefix), to be settled with the network by the
// Manager (settleStale) before it is served again. It returns how many it
// moved. Call it before the store serves anything: it takes no key's lock.
func (s *Store) SetAside(ctx context.Context) (int, error) {
	moved := 0
	err := s.inChunks(ctx, recordPrefix, prefixEnd(recordPrefix), setAsideChunk, func(chunk []kv) error {
		b, err := s.d.Batch(ctx)
		if err != nil {
			return err
		}
		var slots []slot
		for _, e := range chunk {
			id, err := idOf(recordPrefix, e.k)
			if err != nil {
				s.badEntry(e.k, err) // left in place, out of every range
				continue
			}
			sl := slot{id: id, size: len(e.v)}
			if key, wire, err := decodeEntry(e.v); err == nil {
				sl.key, sl.wire = key, wire
			}
			if err := errors.Join(b.Put(ctx, entryKey(asidePrefix, id), e.v), b.Delete(ctx, ds.RawKey(e.k))); err != nil {
				return err
			}
			slots = append(slots, sl)
		}
		if err := b.Commit(ctx); err != nil {
			return fmt.Errorf("set records aside: %w", err)
		}
		for _, sl := range slots {
			s.bytes.Add(-int64(sl.size))
			s.changed(sl, nil)
		}
		moved += len(slots)
		return nil
	})
	return moved, err
}

// setAside returns the records set aside, and counts them.
func (s *Store) setAside(ctx context.Context) ([]*Record, error) {
	var recs []*Record
	err := s.scan(ctx, asidePrefix, prefixEnd(asidePrefix), false, func(k string, v []byte) error {
		if _, r, err := decodeAt(asidePrefix, k, v); err != nil {
			s.badEntry(k, err)
		} else {
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.stale.n.Store(int64(len(recs)))
	return recs, nil
}

// isSetAside reports whether the key's copy is set aside.
func (s *Store) isSetAside(ctx context.Context, key string) bool {
	if s.stale.n.Load() == 0 {
		return false
	}
	has, err := s.d.Has(ctx, entryKey(asidePrefix, kadID(key)))
	return err == nil && has
}

// settleAside drops the set-aside copy of r's key, first putting r back in
// the store if restore is set.
func (s *Store) settleAside(ctx context.Context, r *Record, restore bool) error {
	if restore {
		if _, err := s.Put(ctx, r); err != nil {
			return err
		}
	}
	if err := s.d.Delete(ctx, entryKey(asidePrefix, kadID(r.Key))); err != nil {
		return err
	}
	s.stale.n.Add(-1)
	return nil
}

// settleStale settles the set-aside records with the network, every repair
// interval until none is left. It returns at once when there are none.
func (m *Manager) settleStale() {
	recs, err := m.store.setAside(m.ctx)
	if err != nil {
		m.logger.Warn("reading set-aside records", "error", err)
		return
	}
	if len(recs) == 0 {
		return
	}
	m.logger.Info("settling records held from before a downtime longer than the tombstone retention", "records", len(recs))
	tick := time.NewTicker(m.cfg.RepairInterval)
	defer tick.Stop()
	for len(recs) > 0 {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
		if m.router.tableSize() == 0 {
			continue
		}
		left := make([]bool, len(recs))
		forEachBounded(m.ctx, len(recs), func(i int) { left[i] = !m.settleOne(recs[i]) })
		var next []*Record
		for i, r := range recs {
			if left[i] {
				next = append(next, r)
			}
		}
		recs = next
	}
	m.logger.Info("every set-aside record settled")
}

// settleOne asks r's holders about its key and drops or restores r as the
// rules above say. It reports whether r is settled.
func (m *Manager) settleOne(r *Record) bool {
	var best *Record
	asked, absent, aside := 0, 0, 0
	for _, p := range m.router.closest(m.ctx, DHTKey(r.Key), m.cfg.Factor) {
		if p == m.self {
			continue
		}
		asked++
		c, cancel := m.rpcContext()
		got, err := m.tr.fetch(c, p, r.Key)
		cancel()
		switch {
		case err == nil && got != nil:
			if best == nil || got.Compare(best) > 0 {
				best = got
			}
		case err == nil:
			absent++
		case errors.Is(err, errSetAside):
			aside++
		}
	}
	var restore bool
	switch {
	case best != nil:
		restore = r.Compare(best) > 0
	case absent > 0 && absent >= asked/2+1:
		restore = false
	case aside > 0 && absent == 0:
		restore = true
	default:
		return false
	}
	if err := m.store.settleAside(m.ctx, r, restore); err != nil {
		m.logger.Warn("settling a set-aside record", "key", r.Key, "error", err)
		return false
	}
	return true
}
