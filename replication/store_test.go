package replication

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"google.golang.org/protobuf/proto"
)

// newDiskStore returns a Store over a real on-disk LevelDB datastore that
// takes values up to maxValue bytes.
func newDiskStore(t testing.TB, maxValue int) *Store {
	t.Helper()
	d, err := leveldb.NewDatastore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return NewStore(d, NewValidator(maxValue))
}

func version(t *testing.T, s *Store, key string) uint64 {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		return 0
	}
	return r.Version
}

// TestStoreReadsSeeEveryWriter reads a key into the cache, then changes it
// through each path that writes the datastore (kad-dht's value store as its
// PUT_VALUE handler uses it, a delete, a batch) and checks that the next
// read sees the change.
func TestStoreReadsSeeEveryWriter(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	const key = "cached"
	rec := func(v uint64) *Record {
		return signed(t, priv, Record{Key: key, Version: v, WrittenAt: int64(v), Value: []byte("value")})
	}
	if _, err := s.Put(ctx, rec(1)); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, key); got != 1 {
		t.Fatalf("read version %d, want 1", got)
	}
	if got := version(t, s, key); got != 1 { // now from the cache
		t.Fatalf("cached read gave version %d, want 1", got)
	}

	kad := records.NewValueStore(s.Datastore(), NewValidator(1024), 0) // as kad-dht's handlers write
	if err := kad.Put(ctx, DHTKey(key), rec(2).toPB()); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, key); got != 2 {
		t.Fatalf("after kad-dht stored version 2, read version %d", got)
	}

	if err := s.Datastore().Delete(ctx, valueDsKey(DHTKey(key))); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, key); got != 0 {
		t.Fatalf("after a delete, read version %d, want none", got)
	}

	b, err := s.Datastore().Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, err := proto.Marshal(rec(3).toPB()) // as kad-dht stores a record
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, valueDsKey(DHTKey(key)), data); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, key); got != 0 {
		t.Fatalf("before the batch committed, read version %d, want none", got)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, key); got != 3 {
		t.Fatalf("after a batch stored version 3, read version %d", got)
	}
}

// TestStoreCacheNeverServesAnOverwrittenRecord races readers against
// writers of ever newer versions (two per key, through the store and as
// kad-dht writes); once the writers are done, every read must return the
// newest version written.
func TestStoreCacheNeverServesAnOverwrittenRecord(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	kad := records.NewValueStore(s.Datastore(), NewValidator(1024), 0)
	keys := []string{"race-a", "race-b"}
	const versions = 150
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, k := range keys {
					if _, err := s.Get(ctx, k); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	var writers sync.WaitGroup
	for _, k := range keys {
		for first := uint64(1); first <= 2; first++ { // two writers per key race each other
			writers.Go(func() {
				for v := first; v <= versions; v += 2 {
					r := signed(t, priv, Record{Key: k, Version: v, WrittenAt: int64(v), Value: []byte{byte(v)}})
					var err error
					if v%3 == 0 {
						err = kad.Put(ctx, DHTKey(k), r.toPB())
					} else {
						_, err = s.Put(ctx, r)
					}
					if err != nil && !errors.Is(err, records.ErrOldRecord) {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	for _, k := range keys {
		if got := version(t, s, k); got != versions {
			t.Errorf("%s: read version %d after the writers finished, want %d", k, got, versions)
		}
	}
}

func TestStoreDoesNotCacheLargeRecords(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 2*maxCachedRecord)
	priv := newKey(t)
	for _, size := range []int{10, maxCachedRecord + 1} {
		r := signed(t, priv, Record{Key: "size", Version: uint64(size), WrittenAt: 1, Value: make([]byte, size)})
		if _, err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got := version(t, s, "size"); got != uint64(size) {
			t.Fatalf("read version %d, want %d", got, size)
		}
		cached := s.cache.entries.Len() == 1
		if want := size <= maxCachedRecord-100; cached != want {
			t.Errorf("value of %d bytes: cached = %v, want %v", size, cached, want)
		}
	}
}

// TestReadCacheSkipsAddsRacedByAWrite checks the rule cache fills rely on:
// what a reader read is cached only if no write happened since it missed.
func TestReadCacheSkipsAddsRacedByAWrite(t *testing.T) {
	c := newReadCache()
	k := valueDsKey(DHTKey("k"))
	cached := func() bool { _, _, ok := c.get(k.String()); return ok }

	_, gen, _ := c.get(k.String()) // a reader misses...
	c.written(k)                   // ...a writer stores a newer copy...
	c.add(k.String(), []byte("old"), gen)
	if cached() {
		t.Fatal("a read older than a write was cached")
	}
	_, gen, _ = c.get(k.String())
	c.add(k.String(), []byte("new"), gen)
	if !cached() {
		t.Fatal("a read with no write after it was not cached")
	}
}

// Writes through the store's datastore never replace a value record with an
// older one, whichever ValueStore makes them: each serialises only its own
// Puts, so two of them (kad-dht's and the Store's) can both pass their
// checks, as TestStoreCacheNeverServesAnOverwrittenRecord provokes.
func TestDatastoreNeverReplacesANewerRecord(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	put := func(v uint64) error {
		data, err := proto.Marshal(signed(t, priv, Record{Key: "k", Version: v, WrittenAt: int64(v), Value: []byte{byte(v)}}).toPB())
		if err != nil {
			t.Fatal(err)
		}
		return s.Datastore().Put(ctx, valueDsKey(DHTKey("k")), data)
	}
	for _, step := range []struct {
		version uint64
		wantErr error
		want    uint64
	}{{2, nil, 2}, {1, records.ErrOldRecord, 2}, {3, nil, 3}} {
		if err := put(step.version); !errors.Is(err, step.wantErr) {
			t.Fatalf("writing v%d: %v, want %v", step.version, err, step.wantErr)
		}
		if got := version(t, s, "k"); got != step.want {
			t.Fatalf("after writing v%d the store holds v%d, want v%d", step.version, got, step.want)
		}
	}
	other := ds.NewKey("/other/k") // not a value record: written as asked
	for _, v := range []string{"b", "a"} {
		if err := s.Datastore().Put(ctx, other, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Datastore().Get(ctx, other); err != nil || string(got) != "a" {
		t.Fatalf("other key holds %q, %v; want \"a\"", got, err)
	}
}

// Remove deletes a key's copy only while it is still the record given, and
// the read cache forgets it.
func TestStoreRemoveKeepsANewerRecord(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	v1 := signed(t, priv, Record{Key: "k", Version: 1, WrittenAt: 1, Value: []byte{1}})
	v2 := signed(t, priv, Record{Key: "k", Version: 2, WrittenAt: 2, Value: []byte{2}})
	for _, r := range []*Record{v1, v2} {
		if _, err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Remove(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if got := version(t, s, "k"); got != 2 { // also puts v2 in the read cache
		t.Fatalf("removing v1 left v%d, want v2 kept", got)
	}
	for range 2 { // the second finds nothing to remove
		if err := s.Remove(ctx, v2); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ctx, "k"); err != nil || got != nil {
			t.Fatalf("after removing v2: %v, %v; want nothing", got, err)
		}
	}
}

// As in kad-dht's ValueStore, an expired stored record does not block a
// write, however low the new record's version.
func TestDatastoreReplacesAnExpiredRecord(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	valid := NewValidator(1024)
	valid.clock = func() time.Time { return now }
	d, err := leveldb.NewDatastore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s := NewStore(d, valid)
	priv := newKey(t)
	dskey := valueDsKey(DHTKey("k"))
	put := func(r Record) error {
		data, err := proto.Marshal(signed(t, priv, r).toPB())
		if err != nil {
			t.Fatal(err)
		}
		return s.Datastore().Put(ctx, dskey, data)
	}
	if err := put(Record{Key: "k", Version: 5, WrittenAt: 1, ExpiresAt: now.Add(time.Second).UnixNano(), Value: []byte{5}}); err != nil {
		t.Fatal(err)
	}
	if err := put(Record{Key: "k", Version: 1, WrittenAt: 2, Value: []byte{1}}); !errors.Is(err, records.ErrOldRecord) {
		t.Fatalf("v1 over a live v5: %v, want ErrOldRecord", err)
	}
	now = now.Add(2 * time.Second)
	if err := put(Record{Key: "k", Version: 1, WrittenAt: 3, Value: []byte{1}}); err != nil {
		t.Fatalf("v1 over an expired v5: %v", err)
	}
	if got := version(t, s, "k"); got != 1 {
		t.Fatalf("the store holds v%d, want v1", got)
	}
}
