package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	ds "github.com/ipfs/go-datastore"
)

// slot is what the store holds for one user key.
type slot struct {
	id   []byte // the key's kad ID
	dk   ds.Key
	key  string
	wire []byte // the record's wire form; nil when none, or when the entry does not decode
	size int    // the entry's stored bytes; 0 when none
}

// load reads what the store holds for key (kad ID id). An entry that does
// not decode is logged and counted, and has no wire form. A key the
// datastore cannot hold (keyfilter.go) is not read.
func (s *Store) load(ctx context.Context, key string, id []byte) (slot, error) {
	sl := slot{id: id, dk: entryKey(recordPrefix, id), key: key}
	if !s.present.mayHave(id) {
		return sl, nil
	}
	entry, err := s.d.Get(ctx, sl.dk)
	if errors.Is(err, ds.ErrNotFound) {
		return sl, nil
	}
	if err != nil {
		return sl, err
	}
	sl.size = len(entry)
	stored, wire, err := decodeEntry(entry)
	if err == nil && stored != key {
		err = errBadEntry // another key filed under this one's kad ID
	}
	if err != nil {
		s.badEntry(sl.dk.String(), err)
		return sl, nil
	}
	sl.wire = wire
	return sl, nil
}

// update is the store's one write path for a key's record. Under the key's
// lock, decide gets the stored record's wire form (nil: none) and returns
// the wire form to store instead (nil: delete) and whether to change
// anything. A change is written, counted against the storage limit, and
// then the read cache forgets the key and the observers are told.
func (s *Store) update(ctx context.Context, key string, decide func(cur []byte) (next []byte, change bool)) error {
	id := kadID(key)
	lock := &s.locks[id[0]]
	lock.Lock()
	defer lock.Unlock()
	cur, err := s.load(ctx, key, id)
	if err != nil {
		return err
	}
	next, change := decide(cur.wire)
	if !change || (next == nil && cur.size == 0) {
		return nil
	}
	var entry []byte
	if next != nil {
		entry = encodeEntry(key, next)
	}
	delta, err := s.reserveEntry(cur, entry)
	if err != nil {
		return err
	}
	if entry != nil {
		s.present.add(cur.id) // before the entry exists, under the key's lock
		err = s.d.Put(ctx, cur.dk, entry)
	} else {
		err = s.d.Delete(ctx, cur.dk)
	}
	s.gens[id[0]].Add(1)
	s.settleBytes(delta, err == nil)
	if err != nil {
		return err
	}
	s.changed(cur, next)
	return nil
}

// reserveEntry is the first half of the stored-bytes bookkeeping of a
// write of entry (nil: a delete) over cur, under the key's lock: it returns
// the change of the stored bytes, and reserves a growth against the
// storage limit at once (reserve). Once the write is done, or has failed,
// settleBytes does the second half.
func (s *Store) reserveEntry(cur slot, entry []byte) (delta int64, err error) {
	delta = int64(len(entry) - cur.size)
	if delta > 0 {
		if err := s.reserve(delta, len(entry)); err != nil {
			return 0, err
		}
	}
	return delta, nil
}

// settleBytes ends the bookkeeping reserveEntry began for a write that
// changed the stored bytes by delta: a failed write gives a reserved growth
// back, a written shrink is counted now.
func (s *Store) settleBytes(delta int64, written bool) {
	switch {
	case !written && delta > 0:
		s.bytes.Add(-delta)
	case written && delta < 0:
		s.bytes.Add(delta)
	}
}

// changed does the bookkeeping of a change of cur's record to next (nil:
// deleted) once it is in the datastore, but for the bytes, which the
// writer counts: the record count, the read cache and the observers.
func (s *Store) changed(cur slot, next []byte) {
	switch {
	case cur.size == 0 && next != nil:
		s.records.Add(1)
	case cur.size > 0 && next == nil:
		s.records.Add(-1)
	}
	s.cache.written(string(cur.id))
	if bytes.Equal(cur.wire, next) { // nothing to tell: stored again as it was
		return
	}
	if fns := s.observers.Load(); fns != nil {
		for _, fn := range *fns {
			fn(cur.id, cur.key, cur.wire, next)
		}
	}
}

// checkedPut is what PutCheckedBatch did with one record: PutChecked's
// results.
type checkedPut struct {
	stored   bool
	bad, err error
}

// PutCheckedBatch is PutChecked for records that came from a peer together
// (those of one sync request or answer), with the same rules for each (a
// copy held already is neither checked nor written and reports stored; the
// others are checked, validated, and stored unless the stored record is at
// least as new; the storage limit), but the changes are written to the
// datastore in one batch: one LevelDB write, and one journal record, for
// all of them instead of one each. Nothing is reported stored before the
// batch is written, with the datastore's sync setting, as Put writes: what
// a peer is told was stored is as durable as before. A key that occurs
// twice is stored by PutChecked after the batch.
//
// The stored records are read and the checks (the signatures) run before
// any key lock is taken, so that other writers, and other batches, are not
// held up by them; then the locks of the batch's keys are taken in order,
// the records of keys written meanwhile under the same lock read again
// (gens), and the batch written under them.
func (s *Store) PutCheckedBatch(ctx context.Context, recs []*Record, check func(*Record) error) []checkedPut {
	out := make([]checkedPut, len(recs))
	first, again := firstOfEachKey(recs)
	var todo []batchPut
	for _, i := range first {
		r := recs[i]
		p, err := s.loadFor(ctx, i, r.Key)
		p.wire = r.Marshal()
		switch {
		case err != nil:
			out[i].err = err
			continue
		case p.cur.wire != nil && bytes.Equal(p.cur.wire, p.wire):
			out[i].stored = true
			continue
		}
		if out[i].bad = check(r); out[i].bad != nil {
			continue
		}
		if out[i].err = s.storableWire(r.Key, p.wire); out[i].err != nil {
			continue
		}
		todo = append(todo, p)
	}
	s.writeBatch(ctx, todo, func(p *batchPut, cur slot) bool {
		switch {
		case cur.wire != nil && bytes.Equal(cur.wire, p.wire):
			out[p.i].stored = true // stored meanwhile
			return false
		case cur.wire != nil && !s.beats(recs[p.i], cur.wire):
			return false
		}
		return true
	}, func(i int, err error) {
		out[i].stored, out[i].err = err == nil, err
	})
	for _, i := range again {
		out[i].stored, out[i].bad, out[i].err = s.PutChecked(ctx, recs[i], check)
	}
	return out
}

// createdEntry is what CreateBatch did with one record: Create's results.
type createdEntry struct {
	existing []byte
	err      error
}

// CreateBatch is Create for records that came from a peer together (the
// CREATEs of one batch message, rpcbatch.go), with the same rules for each
// (stored only if no record of its key is; otherwise the stored record's
// wire form is returned, and the record is not validated; validated in
// full, signature included, before it is stored; the storage limit), but
// the new records are written to the datastore in one batch, as
// PutCheckedBatch writes: one LevelDB write and journal record for all of
// them, and none reported stored before the batch is written. The reads of
// the stored records and the validations run before any key lock is
// taken, batchWorkers at a time; then the batch is written under the keys'
// locks, after the records of keys written meanwhile are read again. A key
// that occurs twice is created by Create after the batch (it finds the
// first's record, if that was stored).
func (s *Store) CreateBatch(ctx context.Context, recs []*Record) []createdEntry {
	out := make([]createdEntry, len(recs))
	first, again := firstOfEachKey(recs)
	todo := make([]batchPut, len(first))
	inParallel(len(first), batchWorkers, func(j int) {
		i := first[j]
		r := recs[i]
		if data, _, ok := s.cache.get(string(kadID(r.Key))); ok {
			out[i].existing = data
			return
		}
		p, err := s.loadFor(ctx, i, r.Key)
		switch {
		case err != nil:
			out[i].err = err
			return
		case p.cur.wire != nil:
			out[i].existing = p.cur.wire
			return
		}
		if p.wire, out[i].err = s.storable(r); out[i].err == nil {
			todo[j] = p
		}
	})
	todo = slices.DeleteFunc(todo, func(p batchPut) bool { return p.wire == nil })
	s.writeBatch(ctx, todo, func(p *batchPut, cur slot) bool {
		if cur.wire != nil { // created meanwhile
			out[p.i].existing = cur.wire
			return false
		}
		return true
	}, func(i int, err error) {
		out[i].err = err
	})
	for _, i := range again {
		out[i].existing, out[i].err = s.Create(ctx, recs[i])
	}
	return out
}

// firstOfEachKey splits the indexes of recs into those of the first record
// of each key and those of the later ones.
func firstOfEachKey(recs []*Record) (first, again []int) {
	seen := make(map[string]bool, len(recs))
	first = make([]int, 0, len(recs))
	for i, r := range recs {
		if seen[r.Key] {
			again = append(again, i)
			continue
		}
		seen[r.Key] = true
		first = append(first, i)
	}
	return first, again
}

// loadFor reads what the store holds for key, recs[i] of a batch write,
// before the batch takes the key's lock: a batchPut without its wire form.
func (s *Store) loadFor(ctx context.Context, i int, key string) (batchPut, error) {
	id := kadID(key)
	gen := s.gens[id[0]].Load()
	cur, err := s.load(ctx, key, id)
	if err != nil {
		return batchPut{}, fmt.Errorf("store %q: %w", key, err)
	}
	return batchPut{i: i, key: key, id: id, cur: cur, gen: gen}, nil
}

// batchPut is a record a batch write may store (writeBatch): recs[i] of
// the batch, its key, kad ID and wire form, and what the store held for it
// when gens[id[0]] was gen.
type batchPut struct {
	i        int
	key      string
	id, wire []byte
	cur      slot
	gen      uint64
}

// writeBatch is the write of PutCheckedBatch and CreateBatch: under the
// keys' locks, each of todo's records that write accepts over the stored
// record (cur: read again if its lock saw a write since p.cur was read),
// in one datastore batch, then the bookkeeping update does for each. It
// tells done of each record it stored (err nil) or failed to (a read, the
// storage limit or the datastore); of one write declined, nothing.
func (s *Store) writeBatch(ctx context.Context, todo []batchPut, write func(p *batchPut, cur slot) bool, done func(i int, err error)) {
	if len(todo) == 0 {
		return
	}
	var locks []int
	for _, p := range todo {
		locks = append(locks, int(p.id[0]))
	}
	slices.Sort(locks)
	locks = slices.Compact(locks)
	for _, l := range locks { // in order: update takes one at a time
		s.locks[l].Lock()
	}
	defer func() {
		for _, l := range locks {
			s.locks[l].Unlock()
		}
	}()
	fail := func(p *batchPut, err error) { done(p.i, fmt.Errorf("store %q: %w", p.key, err)) }
	b, err := s.batch(ctx)
	if err != nil {
		for i := range todo {
			fail(&todo[i], err)
		}
		return
	}
	type change struct {
		p     *batchPut
		cur   slot
		delta int64
	}
	var changes []change
	for i := range todo {
		p := &todo[i]
		cur, err := p.cur, error(nil)
		if s.gens[p.id[0]].Load() != p.gen { // written since: read again
			cur, err = s.load(ctx, p.key, p.id)
		}
		if err != nil {
			fail(p, err)
			continue
		}
		if !write(p, cur) {
			continue
		}
		entry := encodeEntry(p.key, p.wire)
		delta, err := s.reserveEntry(cur, entry)
		if err != nil {
			fail(p, err)
			continue
		}
		s.present.add(p.id) // before the batch is written, under the key's lock
		if err := b.Put(ctx, cur.dk, entry); err != nil {
			s.settleBytes(delta, false)
			fail(p, err)
			continue
		}
		changes = append(changes, change{p: p, cur: cur, delta: delta})
	}
	if len(changes) == 0 {
		return
	}
	err = b.Commit(ctx)
	for _, l := range locks {
		s.gens[l].Add(1)
	}
	for _, c := range changes {
		s.settleBytes(c.delta, err == nil)
		if err != nil {
			fail(c.p, err)
			continue
		}
		s.changed(c.cur, c.p.wire)
		done(c.p.i, nil)
	}
}
