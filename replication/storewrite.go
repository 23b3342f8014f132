package replication

import (
	"bytes"
	"context"
	"errors"

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
	delta := int64(len(entry) - cur.size)
	if delta > 0 {
		if err := s.reserve(delta, len(entry)); err != nil {
			return err
		}
	}
	if entry != nil {
		s.present.add(cur.id) // before the entry exists, under the key's lock
		err = s.d.Put(ctx, cur.dk, entry)
	} else {
		err = s.d.Delete(ctx, cur.dk)
	}
	if err != nil {
		if delta > 0 {
			s.bytes.Add(-delta)
		}
		return err
	}
	if delta < 0 {
		s.bytes.Add(delta)
	}
	s.changed(cur, next)
	return nil
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
