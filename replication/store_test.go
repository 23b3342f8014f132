package replication

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	leveldb "github.com/ipfs/go-ds-leveldb"
)

// openStore opens a Store over d, failing the test on error.
func openStore(t testing.TB, d ds.Batching, valid Validator) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), d, valid, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newMemStore returns a Store over an in-memory datastore.
func newMemStore(t testing.TB, valid Validator) *Store {
	return openStore(t, dssync.MutexWrap(ds.NewMapDatastore()), valid)
}

// newDiskStore returns a Store over a real on-disk LevelDB datastore that
// takes values up to maxValue bytes.
func newDiskStore(t testing.TB, maxValue int) *Store {
	_, s := diskStoreAt(t, t.TempDir(), NewValidator(maxValue))
	return s
}

// diskStoreAt opens the LevelDB datastore in dir, closed at the end of the
// test if the test does not close it first, and a Store over it.
func diskStoreAt(t testing.TB, dir string, valid Validator) (*leveldb.Datastore, *Store) {
	t.Helper()
	d, err := leveldb.NewDatastore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, openStore(t, d, valid)
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
// through each write of the store (put, remove, create, swap, set-aside)
// and checks that the next read sees the change.
func TestStoreReadsSeeEveryWriter(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	const key = "cached"
	rec := func(v uint64) *Record {
		return signed(t, priv, Record{Key: key, Version: v, WrittenAt: int64(v), Value: []byte("value")})
	}
	steps := []struct {
		name  string
		write func() error
		want  uint64
	}{
		{"put", func() error { _, err := s.Put(ctx, rec(1)); return err }, 1},
		{"swap", func() error { _, err := s.PutNewer(ctx, rec(2)); return err }, 2},
		{"remove", func() error { return s.Remove(ctx, rec(2)) }, 0},
		{"create", func() error { _, err := s.Create(ctx, rec(3)); return err }, 3},
		{"set aside", func() error { _, err := s.SetAside(ctx); return err }, 0},
	}
	for _, step := range steps {
		version(t, s, key) // now in the cache, if stored
		if err := step.write(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := version(t, s, key); got != step.want {
			t.Fatalf("after %s, read version %d, want %d", step.name, got, step.want)
		}
	}
}

// TestStoreCacheNeverServesAnOverwrittenRecord races readers against
// writers of ever newer versions (two per key, by put and by swap); once
// the writers are done, every read must return the newest version written.
func TestStoreCacheNeverServesAnOverwrittenRecord(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
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
						_, err = s.PutNewer(ctx, r)
					} else {
						_, err = s.Put(ctx, r)
					}
					if err != nil {
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
	k := string(kadID("k"))
	cached := func() bool { _, _, ok := c.get(k); return ok }

	_, gen, _ := c.get(k) // a reader misses...
	c.written(k)          // ...a writer stores a newer copy...
	c.add(k, []byte("old"), gen)
	if cached() {
		t.Fatal("a read older than a write was cached")
	}
	_, gen, _ = c.get(k)
	c.add(k, []byte("new"), gen)
	if !cached() {
		t.Fatal("a read with no write after it was not cached")
	}
}

// A put never replaces a stored record with an older one, and reports
// whether it stored.
func TestStoreNeverReplacesANewerRecord(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	for _, step := range []struct {
		version    uint64
		wantStored bool
		want       uint64
	}{{2, true, 2}, {1, false, 2}, {2, true, 2}, {3, true, 3}} {
		r := signed(t, priv, Record{Key: "k", Version: step.version, WrittenAt: int64(step.version), Value: []byte{byte(step.version)}})
		stored, err := s.Put(ctx, r)
		if err != nil || stored != step.wantStored {
			t.Fatalf("writing v%d: stored %v, %v; want %v", step.version, stored, err, step.wantStored)
		}
		if got := version(t, s, "k"); got != step.want {
			t.Fatalf("after writing v%d the store holds v%d, want v%d", step.version, got, step.want)
		}
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
func TestStoreReplacesAnExpiredRecord(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	valid := NewValidator(1024)
	valid.clock = func() time.Time { return now }
	_, s := diskStoreAt(t, t.TempDir(), valid)
	priv := newKey(t)
	put := func(r Record) bool {
		stored, err := s.Put(ctx, signed(t, priv, r))
		if err != nil {
			t.Fatal(err)
		}
		return stored
	}
	if !put(Record{Key: "k", Version: 5, WrittenAt: 1, ExpiresAt: now.Add(time.Second).UnixNano(), Value: []byte{5}}) {
		t.Fatal("v5 not stored")
	}
	if put(Record{Key: "k", Version: 1, WrittenAt: 2, Value: []byte{1}}) {
		t.Fatal("v1 stored over a live v5")
	}
	now = now.Add(2 * time.Second)
	if !put(Record{Key: "k", Version: 1, WrittenAt: 3, Value: []byte{1}}) {
		t.Fatal("v1 not stored over an expired v5")
	}
	if got := version(t, s, "k"); got != 1 {
		t.Fatalf("the store holds v%d, want v1", got)
	}
}
