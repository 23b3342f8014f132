package replication

import (
	"context"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
)

func TestKeyFilterHasEveryAddedIDAndFewOthers(t *testing.T) {
	f := newKeyFilter()
	const n = 40000
	for i := range n {
		f.add(kadID(fmt.Sprintf("in/%d", i)))
	}
	for i := range n {
		if !f.mayHave(kadID(fmt.Sprintf("in/%d", i))) {
			t.Fatalf("in/%d was added but the filter does not have it", i)
		}
	}
	maybe := 0
	for i := range n {
		if f.mayHave(kadID(fmt.Sprintf("out/%d", i))) {
			maybe++
		}
	}
	if maybe > 10 { // about 1 expected at 40,000 records
		t.Fatalf("%d of %d absent IDs pass the filter", maybe, n)
	}
	var nilFilter *keyFilter
	nilFilter.add(kadID("x"))
	if !nilFilter.mayHave(kadID("x")) {
		t.Fatal("a nil filter must have everything")
	}
}

func (d *countingDatastore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	d.gets.Add(1)
	return d.Batching.Get(ctx, k)
}

// TestStoreSkipsReadsOfKeysItNeverHeld checks that a CREATE of a new key
// does not read the datastore, and that the keys a store holds are still
// found, in the same store and in one opened anew on its datastore (the
// filter is rebuilt from the entries), so that CREATE never overwrites.
func TestStoreSkipsReadsOfKeysItNeverHeld(t *testing.T) {
	ctx := context.Background()
	d := &countingDatastore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	s := openStore(t, d, NewValidator(1024))
	priv := newKey(t)
	const n = 200
	recs := make([]*Record, n)
	for i := range recs {
		recs[i] = signed(t, priv, Record{Key: fmt.Sprintf("kf/%03d", i), Version: 1, WrittenAt: 1, Value: []byte("v")})
	}
	before := d.gets.Load()
	for _, r := range recs {
		if have, err := s.Create(ctx, r); err != nil || have != nil {
			t.Fatalf("create %s: %q, %v", r.Key, have, err)
		}
	}
	if gets := d.gets.Load() - before; gets > 2 {
		t.Errorf("%d creates of new keys read the datastore %d times", n, gets)
	}
	checkCreatesFindStored(t, priv, recs, s, openStore(t, d, NewValidator(1024)))
}

// TestBatchStoredKeysPassTheFilter checks that the records a sync batch
// stores (PutCheckedBatch) are in the filter: a CREATE over one of them
// answers with it instead of overwriting it.
func TestBatchStoredKeysPassTheFilter(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	s := openStore(t, d, NewValidator(1024))
	priv := newKey(t)
	recs := make([]*Record, 50)
	for i := range recs {
		recs[i] = signed(t, priv, Record{Key: fmt.Sprintf("kb/%03d", i), Version: 1, WrittenAt: 1, Value: []byte("v")})
	}
	for i, res := range s.PutCheckedBatch(ctx, recs, func(*Record) error { return nil }) {
		if !res.stored || res.bad != nil || res.err != nil {
			t.Fatalf("batch put of %s: %+v", recs[i].Key, res)
		}
	}
	checkCreatesFindStored(t, priv, recs, s)
}

// checkCreatesFindStored checks that a CREATE of a newer version of each
// of recs (stored at version 1) answers, in each of stores, with the
// stored record and leaves it in place.
func checkCreatesFindStored(t *testing.T, priv crypto.PrivKey, recs []*Record, stores ...*Store) {
	t.Helper()
	ctx := context.Background()
	for _, st := range stores {
		for _, r := range recs {
			st.cache = newReadCache() // read the datastore, not the cache
			newer := signed(t, priv, Record{Key: r.Key, Version: 2, WrittenAt: 2, Value: []byte("w")})
			if have, err := st.Create(ctx, newer); err != nil || have == nil {
				t.Fatalf("create over the stored %s: %q, %v (it must answer with the stored record)", r.Key, have, err)
			}
			if got, err := st.Get(ctx, r.Key); err != nil || got == nil || got.Version != 1 {
				t.Fatalf("get %s: %+v, %v", r.Key, got, err)
			}
		}
	}
}
