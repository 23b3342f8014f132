package replication

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
)

// Store is this node's local copy of the records it holds, in its own
// layout in the datastore (storelayout.go), which nothing else writes.
// Every change goes through one write path (storewrite.go), which keeps the
// read cache (cache.go), the counts, the storage limit (quota.go) and the
// change observers (onChange) in step with the datastore.
type Store struct {
	d      ds.Batching
	valid  Validator
	logger *slog.Logger
	cache  *readCache
	locks  [256]sync.Mutex // by the first byte of the kad ID
	// gens count the writes under each lock (update, writeBatch): a read
	// made outside a lock is still current under it while its count has
	// not moved (PutCheckedBatch).
	gens [256]atomic.Uint64
	// present holds every kad ID the datastore may hold a record under
	// (keyfilter.go): a read of any other is skipped.
	present *keyFilter

	records atomic.Int64 // entries under recordPrefix
	bytes   atomic.Int64 // their stored bytes
	max     atomic.Int64 // the storage limit; 0: none
	corrupt atomic.Int64 // reads that found an entry that does not decode (logged)
	stale   staleCount   // records set aside after a long downtime (stale.go)

	observers atomic.Pointer[[]func(id []byte, key string, old, new []byte)]
}

// NewStore opens the store kept in dstore, which nothing else may write. It
// reads every entry once, counting the records and, over LevelDB, verifying
// every checksum (a damaged table is ErrStoreDamaged), and moves the records
// of an earlier layout to the current one (storemigrate.go). Records never
// age out by receive time: expiry is the record's own ExpiresAt.
func NewStore(ctx context.Context, dstore ds.Batching, valid Validator, logger *slog.Logger) (*Store, error) {
	s := &Store{d: dstore, valid: valid, logger: logger.With("component", "store"), cache: newReadCache(), present: newKeyFilter()}
	layout, err := s.count(ctx)
	if err != nil {
		return nil, err
	}
	switch layout {
	case layoutVersion:
		return s, nil
	case "":
		return s, s.migrate(ctx)
	}
	return nil, fmt.Errorf("the datastore is in store layout %q, written by a newer dhtnode; this one reads layout %s", layout, layoutVersion)
}

// count counts the stored records and their bytes in one pass over the
// whole datastore, and returns the layout version it found.
func (s *Store) count(ctx context.Context) (layout string, err error) {
	var records, bytes int64
	err = s.scan(ctx, "", "", true, func(k string, v []byte) error {
		switch {
		case k == layoutKey.String():
			layout = string(v)
		case strings.HasPrefix(k, recordPrefix):
			records++
			bytes += int64(len(v))
			if id, err := idOf(recordPrefix, k); err == nil {
				s.present.add(id)
			}
			if _, _, err := decodeAt(recordPrefix, k, v); err != nil {
				s.badEntry(k, err)
			}
		}
		return nil
	})
	s.records.Store(records)
	s.bytes.Store(bytes)
	return layout, err
}

// Counts returns the number of stored records (tombstones and expired
// records included) and their stored bytes, kept up to date by every write.
func (s *Store) Counts() (records int, bytes int64) {
	return int(s.records.Load()), s.bytes.Load()
}

// onChange registers fn, called on every change of a stored record (put,
// create, swap, remove, set-aside) under the key's lock, with the kad ID,
// the user key and the record's wire form (Record.Marshal) before and after
// (nil: absent). Observers are called in registration order; fn must not
// call back into the store for the same key. Register before the store
// takes writes: a change during the registration may be missed.
func (s *Store) onChange(fn func(id []byte, key string, old, new []byte)) {
	var fns []func(id []byte, key string, old, new []byte)
	if cur := s.observers.Load(); cur != nil {
		fns = append(fns, *cur...)
	}
	fns = append(fns, fn)
	s.observers.Store(&fns)
}

// Get returns the stored record of a user key, or nil if there is none.
func (s *Store) Get(ctx context.Context, key string) (*Record, error) {
	data, err := s.getBytes(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	return Unmarshal(key, data)
}

// getBytes returns the stored record of a user key in its wire form
// (Record.Marshal), or nil if there is none. An entry that does not decode
// is logged and counted, and reads as none.
// The bytes may be shared with the cache: callers must not modify them.
func (s *Store) getBytes(ctx context.Context, key string) ([]byte, error) {
	id := kadID(key)
	data, gen, ok := s.cache.get(string(id))
	if ok {
		return data, nil
	}
	sl, err := s.load(ctx, key, id)
	if err != nil || sl.wire == nil {
		return nil, err
	}
	s.cache.add(string(id), sl.wire, gen)
	return sl.wire, nil
}

// PutChecked is Put for a record that came from a peer: check (the
// verification of an answer) runs under the key's lock, after the read of
// the stored copy, and only if that copy is not r itself. A copy this node
// holds already (a range sync moving it a second time: two holders filling
// it at once, or anti-entropy after them) was checked when it was stored:
// it is neither checked nor written again, and reports stored, as Put
// reports re-storing it. bad is check's error (nothing stored); err is
// Put's.
func (s *Store) PutChecked(ctx context.Context, r *Record, check func(*Record) error) (stored bool, bad, err error) {
	wire := r.Marshal()
	var invalid error
	err = s.update(ctx, r.Key, func(cur []byte) ([]byte, bool) {
		if cur != nil && bytes.Equal(cur, wire) {
			stored = true
			return nil, false
		}
		if bad = check(r); bad != nil {
			return nil, false
		}
		if invalid = s.storableWire(r.Key, wire); invalid != nil {
			return nil, false
		}
		stored = cur == nil || s.beats(r, cur)
		return wire, stored
	})
	switch {
	case bad != nil:
		return false, bad, nil
	case invalid != nil:
		return false, nil, invalid
	case err != nil:
		return false, nil, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return stored, nil, nil
}

// Put stores r unless the stored record is at least as new (Record.Compare).
// It reports whether r was stored.
func (s *Store) Put(ctx context.Context, r *Record) (bool, error) {
	wire, err := s.storable(r)
	if err != nil {
		return false, err
	}
	var stored bool
	err = s.update(ctx, r.Key, func(cur []byte) ([]byte, bool) {
		stored = cur == nil || s.beats(r, cur)
		return wire, stored
	})
	if err != nil {
		return false, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return stored, nil
}

// beats reports whether r should replace the stored wire form cur. As in
// kad-dht's value store, a stored record that is not valid any more
// (expired, say) is replaced, and so is one that does not decode; but an
// owned key's versions only grow, even past expiry (owner.go).
func (s *Store) beats(r *Record, cur []byte) bool {
	c, err := Unmarshal(r.Key, cur)
	if err != nil || (s.valid.check(c) != nil && !keepsForever(r.Key)) {
		return true
	}
	return r.Compare(c) >= 0
}

// Create stores r only if no record of its key is stored (the CREATE
// protocol, create.go). Otherwise it stores nothing and returns the stored
// record's wire form. The key is read once, under its lock (a cached record
// aside), and r is validated only when it is to be stored: a CREATE is most
// often of a new key, and a second lookup of it before taking the lock cost
// a LevelDB read that finds nothing.
func (s *Store) Create(ctx context.Context, r *Record) (existing []byte, err error) {
	if data, _, ok := s.cache.get(string(kadID(r.Key))); ok {
		return data, nil
	}
	var invalid error
	err = s.update(ctx, r.Key, func(cur []byte) ([]byte, bool) {
		if cur != nil {
			existing = cur
			return nil, false
		}
		var wire []byte
		wire, invalid = s.storable(r)
		return wire, invalid == nil
	})
	switch {
	case invalid != nil:
		return nil, invalid
	case err != nil:
		return nil, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return existing, nil
}

// PutNewer stores r only if the stored record of its key, live or not, has
// a lower version, or is r itself. Otherwise it stores nothing and returns
// the stored record's wire form: a compare-and-set write (cas.go) that
// finds another record at its version has lost this holder.
func (s *Store) PutNewer(ctx context.Context, r *Record) (existing []byte, err error) {
	wire, err := s.storable(r)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, r.Key, func(cur []byte) ([]byte, bool) {
		if c, err := Unmarshal(r.Key, cur); cur != nil && err == nil && c.Version >= r.Version && c.Compare(r) != 0 {
			existing = cur
			return nil, false
		}
		return wire, true
	})
	if err != nil {
		return nil, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return existing, nil
}

// conditional is Create (op opCreate) or PutNewer (opSwap).
func (s *Store) conditional(ctx context.Context, r *Record, op byte) ([]byte, error) {
	if op == opCreate {
		return s.Create(ctx, r)
	}
	return s.PutNewer(ctx, r)
}

// storable validates r in full, key and wire form included, and returns
// its wire form.
func (s *Store) storable(r *Record) ([]byte, error) {
	wire := r.Marshal()
	if err := s.storableWire(r.Key, wire); err != nil {
		return nil, err
	}
	return wire, nil
}

// storableWire is storable for a record whose wire form the caller has
// already marshalled: it validates wire as a record of key in full.
func (s *Store) storableWire(key string, wire []byte) error {
	if err := s.valid.Validate(DHTKey(key), wire); err != nil {
		return fmt.Errorf("store %q: validating record: %w", key, err)
	}
	return nil
}

// Remove deletes the stored copy of a key if it is still exactly r: a
// record that arrived in the meantime is kept.
func (s *Store) Remove(ctx context.Context, r *Record) error {
	err := s.update(ctx, r.Key, func(cur []byte) ([]byte, bool) {
		c, err := Unmarshal(r.Key, cur)
		return nil, cur != nil && err == nil && c.Compare(r) == 0
	})
	if err != nil {
		return fmt.Errorf("remove %q: %w", r.Key, err)
	}
	return nil
}
