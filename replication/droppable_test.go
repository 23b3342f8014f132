package replication

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// putRaw writes r's wire form straight into s, without validation: an
// expired record, say, as a store holds one once its expiry passes.
func putRaw(t *testing.T, s *Store, r *Record) {
	t.Helper()
	err := s.update(context.Background(), r.Key, func([]byte) ([]byte, bool) { return r.Marshal(), true })
	if err != nil {
		t.Fatal(err)
	}
}

// Two holders that differ only in droppable records (expired records,
// tombstones past the retention; on either side) end a sync session equal,
// with nothing moved: each drops those it meets, and neither stores the
// other's. Before, their digests differed every session and nothing moved.
func TestSyncHoldersDifferingInDroppableRecordsEndEqual(t *testing.T) {
	const ttl = time.Hour
	net := newMemNetOn(t, 2, 2, func(c *Config) { c.TombstoneTTL = ttl }, func() *Store { return newBenchStore(t) })
	a, b := net.node(net.order[0]), net.node(net.order[1])
	fillPair(t, a.priv, a.store, b.store, 300, 0, 1)
	old := time.Now().Add(-2 * ttl).UnixNano()
	recent := time.Now().Add(-ttl / 2).UnixNano()
	expired := time.Now().Add(-time.Minute).UnixNano()
	droppables := map[*memNode][]*Record{}
	for i, side := range []*memNode{a, b, a, b} {
		tomb := signed(t, a.priv, Record{Key: fmt.Sprintf("gone-%d", i), Version: 2, WrittenAt: old, Deleted: true})
		exp := signed(t, a.priv, Record{Key: fmt.Sprintf("expired-%d", i), Value: []byte("v"), Version: 1, WrittenAt: old, ExpiresAt: expired})
		putRaw(t, side.store, tomb)
		putRaw(t, side.store, exp)
		droppables[side] = append(droppables[side], tomb, exp)
	}
	// A recent tombstone on one side still wins over the live record on
	// the other.
	live := signed(t, a.priv, Record{Key: "deleted-lately", Value: []byte("v"), Version: 1, WrittenAt: recent - 1})
	tomb := signed(t, a.priv, Record{Key: "deleted-lately", Version: 2, WrittenAt: recent, Deleted: true})
	putRaw(t, a.store, tomb)
	putRaw(t, b.store, live)

	for round := range 2 {
		res, err := a.m.syncRanges(longCtx(t), b.id, []prefix{{}}, syncBoth)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %+v", round, res)
		if !res.equal {
			t.Fatalf("round %d: holders differing only in droppable records ended unequal: %+v", round, res)
		}
		if res.received != 0 || res.bad != 0 || res.sent > 1 {
			t.Fatalf("round %d: %+v: only the recent tombstone may move", round, res)
		}
	}
	for side, recs := range droppables {
		for _, r := range recs {
			if got, err := side.store.Get(context.Background(), r.Key); err != nil || got != nil {
				t.Fatalf("droppable record %q still stored (%v, %v)", r.Key, got, err)
			}
		}
	}
	if got, err := b.store.Get(context.Background(), "deleted-lately"); err != nil || got == nil || !got.Deleted {
		t.Fatalf("the recent tombstone did not win over the live record: %v, %v", got, err)
	}
	ca, cb := storeContents(t, a.store), storeContents(t, b.store)
	if !sameContents(ca, cb) || len(ca) != 301 {
		t.Fatalf("%d and %d records after the sessions, want the same 301", len(ca), len(cb))
	}
}

// A record that is droppable on arrival (a tombstone past the retention) is
// not stored from a sync push: it would only come back to be dropped again.
func TestSyncPushOfDroppableRecordNotStored(t *testing.T) {
	const ttl = time.Hour
	net := newMemNet(t, 2, 2, func(c *Config) { c.TombstoneTTL = ttl })
	a, b := net.node(net.order[0]), net.node(net.order[1])
	tomb := signed(t, a.priv, Record{Key: "gone", Version: 2, WrittenAt: time.Now().Add(-2 * ttl).UnixNano(), Deleted: true})
	if b.m.storeSyncedBatch(context.Background(), a.id, []keyedWire{{key: tomb.Key, wire: tomb.Marshal()}}) == 1 {
		t.Fatal("a tombstone past the retention was stored from a push")
	}
	if got, _ := b.store.Get(context.Background(), tomb.Key); got != nil {
		t.Fatalf("stored: %v", got)
	}
}

// A push-only session (a hand-off) pushes the records this node has the
// winner of and stores none of the peer's: not a key only the peer has, nor
// a newer version, nor the winner of a tie (same version and write time);
// it is handed off once the peer holds a winner of each.
func TestSyncPushOnlyStoresNothing(t *testing.T) {
	net := newMemNet(t, 2, 2, nil)
	a, b := net.node(net.order[0]), net.node(net.order[1])
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).UnixNano()
	rec := func(key, value string, version uint64) *Record {
		return signed(t, a.priv, Record{Key: key, Value: []byte(value), Version: version, WrittenAt: at})
	}
	put := func(nd *memNode, r *Record) {
		if _, err := nd.store.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	put(a, rec("only-here", "v", 1))
	put(a, rec("older-there", "v2", 2))
	put(b, rec("older-there", "v1", 1))
	put(a, rec("newer-there", "v1", 1))
	put(b, rec("newer-there", "v2", 2))
	put(b, rec("only-there", "v", 1))
	for i := range 4 { // ties, won by either side
		x, y := rec(fmt.Sprintf("tie-%d", i), "x", 1), rec(fmt.Sprintf("tie-%d", i), "y", 1)
		put(a, x)
		put(b, y)
	}
	before := storeContents(t, a.store)
	res, err := a.m.syncRanges(longCtx(t), b.id, []prefix{{}}, syncPush)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if !res.handedOff || res.received != 0 || res.bad != 0 {
		t.Fatalf("%+v: want handed off, nothing received", res)
	}
	if !sameContents(before, storeContents(t, a.store)) {
		t.Fatal("a push-only session changed the pushing node's store")
	}
	keys := []string{"only-here", "older-there", "newer-there", "tie-0", "tie-1", "tie-2", "tie-3"}
	for _, key := range keys {
		ours, err := a.store.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := b.store.Get(ctx, key)
		if err != nil || theirs == nil || theirs.Compare(ours) < 0 {
			t.Fatalf("%q: the peer holds %v, not at least this node's %v", key, theirs, ours)
		}
	}
}
