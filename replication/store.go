package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/multiformats/go-base32"
	"google.golang.org/protobuf/proto"
)

// Store is this node's local copy of the records it holds, in kad-dht's
// value-record layout in the datastore (kad-dht's own value handlers are
// off: node/node.go). Reads are served from a cache (cache.go) that stays
// coherent only if every writer uses Datastore().
type Store struct {
	dstore *watchedDatastore // every write through it updates the cache
	values *records.ValueStore
	valid  Validator
	cache  *readCache
	quota  *quotaDatastore // the storage limit (quota.go)
	stale  staleCount      // records set aside after a long downtime (stale.go)
}

// NewStore returns a store over dstore. Records never age out by receive time:
// expiry is the record's own ExpiresAt. Give kad-dht the store's Datastore,
// not dstore: writes through it keep the read cache coherent and never
// replace a record with an older one (ordered.go).
func NewStore(dstore ds.Batching, valid Validator) *Store {
	cache := newReadCache()
	quota := &quotaDatastore{Batching: dstore}
	watched := &watchedDatastore{orderedDatastore: &orderedDatastore{Batching: quota, valid: valid}, cache: cache}
	return &Store{dstore: watched, values: records.NewValueStore(watched, valid, 0), valid: valid, cache: cache, quota: quota}
}

// Datastore is the datastore under the store, wrapped so that writes
// through it keep the store's read cache coherent: kad-dht must be given
// this one (dht.Datastore).
func (s *Store) Datastore() ds.Batching { return s.dstore }

// Get returns the stored record of a user key, or nil if there is none.
func (s *Store) Get(ctx context.Context, key string) (*Record, error) {
	data, err := s.getBytes(ctx, key)
	if err != nil || data == nil {
		return nil, err
	}
	return Unmarshal(key, data)
}

// getBytes returns the stored record of a user key in its wire form
// (Record.Marshal), or nil if there is none.
// The bytes may be shared with the cache: callers must not modify them.
func (s *Store) getBytes(ctx context.Context, key string) ([]byte, error) {
	dhtKey := DHTKey(key)
	cacheKey := valueDsKey(dhtKey).String()
	data, gen, ok := s.cache.get(cacheKey)
	if ok {
		return data, nil
	}
	rec, err := s.values.Get(ctx, dhtKey)
	if err != nil || rec == nil {
		return nil, err
	}
	s.cache.add(cacheKey, rec.GetValue(), gen)
	return rec.GetValue(), nil
}

// Put stores r unless the stored record is at least as new (Record.Compare).
// It reports whether r was stored.
func (s *Store) Put(ctx context.Context, r *Record) (bool, error) {
	k, data, err := s.storedForm(r)
	if err != nil {
		return false, err
	}
	err = s.dstore.Put(ctx, k, data) // the ordered layer compares, under the key's lock
	if errors.Is(err, records.ErrOldRecord) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return true, nil
}

// Create stores r only if no live record of its key is stored. Otherwise it
// stores nothing and returns the stored record's wire form.
func (s *Store) Create(ctx context.Context, r *Record) (existing []byte, err error) {
	if existing, err = s.getBytes(ctx, r.Key); err != nil || existing != nil {
		return existing, err
	}
	k, data, err := s.storedForm(r)
	if err != nil {
		return nil, err
	}
	existing, err = s.dstore.putIfAbsent(ctx, k, data)
	if err != nil {
		return nil, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return existing, nil
}

// PutNewer stores r only if the stored record of its key, live or not, has
// a lower version, or is r itself. Otherwise it stores nothing and returns
// the stored record's wire form: a compare-and-set write (cas.go) that
// finds another record at its version has lost this holder.
func (s *Store) PutNewer(ctx context.Context, r *Record) (existing []byte, err error) {
	k, data, err := s.storedForm(r)
	if err != nil {
		return nil, err
	}
	existing, err = s.dstore.putUnless(ctx, k, data, func(stored []byte) []byte {
		var pbrec recpb.Record
		if proto.Unmarshal(stored, &pbrec) != nil {
			return nil
		}
		cur, err := Unmarshal(r.Key, pbrec.GetValue())
		if err != nil || cur.Version < r.Version || cur.Compare(r) == 0 {
			return nil
		}
		return pbrec.GetValue()
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

// storedForm validates r and returns its datastore key and the bytes stored
// there: kad-dht's record, stamped with the receive time as its ValueStore
// stamps the records it stores.
func (s *Store) storedForm(r *Record) (ds.Key, []byte, error) {
	pb := r.toPB()
	if err := s.valid.Validate(string(pb.Key), pb.Value); err != nil {
		return ds.Key{}, nil, fmt.Errorf("store %q: validating record: %w", r.Key, err)
	}
	pb.TimeReceived = time.Now().UTC().Format(time.RFC3339Nano)
	data, err := proto.Marshal(pb)
	if err != nil {
		return ds.Key{}, nil, fmt.Errorf("store %q: %w", r.Key, err)
	}
	return valueDsKey(string(pb.Key)), data, nil
}

// stripe maps a key to one of 256 lock stripes.
func stripe(key string) byte {
	h := fnv.New32a()
	h.Write([]byte(key))
	return byte(h.Sum32())
}

// Remove deletes the stored copy of a key if it is still exactly r: a
// record that arrived in the meantime is kept.
func (s *Store) Remove(ctx context.Context, r *Record) error {
	k := valueDsKey(DHTKey(r.Key))
	_, err := s.dstore.deleteIf(ctx, k, func(stored []byte) bool {
		var pbrec recpb.Record
		if proto.Unmarshal(stored, &pbrec) != nil {
			return false
		}
		cur, err := Unmarshal(r.Key, pbrec.GetValue())
		return err == nil && cur.Compare(r) == 0
	})
	return err
}

// Each calls fn for every stored record, with its stored size in bytes.
// Entries that do not decode are skipped.
func (s *Store) Each(ctx context.Context, fn func(r *Record, size int) error) error {
	res, err := s.dstore.Query(ctx, dsq.Query{Prefix: valueKeyPrefix})
	if err != nil {
		return err
	}
	defer res.Close()
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		pbrec := new(recpb.Record)
		if proto.Unmarshal(e.Value, pbrec) != nil {
			continue
		}
		key, err := UserKey(string(pbrec.GetKey()))
		if err != nil {
			continue
		}
		r, err := Unmarshal(key, pbrec.GetValue())
		if err != nil {
			continue
		}
		if err := fn(r, len(e.Value)); err != nil {
			return err
		}
	}
	return nil
}

// toPB wraps the record in kad-dht's wire and storage type.
func (r *Record) toPB() *recpb.Record {
	return &recpb.Record{Key: []byte(DHTKey(r.Key)), Value: r.Marshal()}
}

// valueDsKey is kad-dht's datastore key of a value record (records/value_store.go):
// "/<namespace>/<base32 of the DHT key>".
func valueDsKey(dhtKey string) ds.Key {
	return ds.NewKey(valueKeyPrefix + base32.RawStdEncoding.EncodeToString([]byte(dhtKey)))
}
