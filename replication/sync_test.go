package replication

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// syncEntrySize is about the wire size of one entry of a sync answer (kad
// ID, version, write time, digest, size), the unit of the byte bounds.
const syncEntrySize = 64

// storeContents returns every record of s as (kad ID, wire form), in order.
func storeContents(t testing.TB, s *Store) [][2][]byte {
	t.Helper()
	var out [][2][]byte
	err := s.EachInRange(context.Background(), make([]byte, 32), nil, func(id []byte, r *Record, _ int) error {
		out = append(out, [2][]byte{slices.Clone(id), r.Marshal()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameContents(a, b [][2][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y [2][]byte) bool { return bytes.Equal(x[0], y[0]) && bytes.Equal(x[1], y[1]) })
}

// newLooseDiskStore is newDiskStore (values up to 1 KiB) without a sync to
// disk after each write, which makes the many writes of these tests slow.
func newLooseDiskStore(t testing.TB) *Store {
	t.Helper()
	d, err := leveldb.NewDatastore(t.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return openStore(t, d, NewValidator(1024))
}

// syncPair is two nodes of a memNet on LevelDB stores, holding the same n
// records but for d random differences of four kinds: a record only on one
// side (either), or a newer version on one side (either).
type syncPair struct {
	net  *memNet
	a, b peer.ID
}

func newSyncPair(t *testing.T, n, d int, seed uint64) *syncPair {
	net := newMemNetOn(t, 2, 2, nil, func() *Store { return newLooseDiskStore(t) })
	sp := &syncPair{net: net, a: net.order[0], b: net.order[1]}
	fillPair(t, net.node(sp.a).priv, net.node(sp.a).store, net.node(sp.b).store, n, d, seed)
	return sp
}

// fillPair writes n records to both stores, then makes d of them differ.
func fillPair(t testing.TB, priv crypto.PrivKey, a, b *Store, n, d int, seed uint64) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 7))
	at := time.Now().Add(-2 * time.Hour).UnixNano()
	rec := func(i int, version uint64) *Record {
		return signed(t, priv, Record{Key: fmt.Sprintf("key-%d", i), Value: fmt.Appendf(nil, "value %d of key %d", version, i), Version: version, WrittenAt: at + int64(version)})
	}
	differ := map[int]int{}
	for _, i := range r.Perm(n)[:d] {
		differ[i] = r.IntN(4)
	}
	put := func(s *Store, r *Record) {
		if _, err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		switch kind, ok := differ[i]; {
		case !ok:
			r := rec(i, 1)
			put(a, r)
			put(b, r)
		case kind == 0:
			put(a, rec(i, 1))
		case kind == 1:
			put(b, rec(i, 1))
		case kind == 2:
			put(a, rec(i, 2))
			put(b, rec(i, 1))
		default:
			put(a, rec(i, 1))
			put(b, rec(i, 3))
		}
	}
}

// A sync between two stores that differ in d random records of n leaves
// them identical, moving O(d·log n) bytes; stores in sync exchange a few
// bytes whatever n.
func TestSyncReconcilesDifferencesInLogBytes(t *testing.T) {
	cases := map[int][]int{1000: {0, 1, 5, 20}, 10000: {0, 20}}
	if testing.Short() {
		delete(cases, 10000)
	}
	for _, n := range []int{1000, 10000} {
		for _, d := range cases[n] {
			t.Run(fmt.Sprintf("n=%d/d=%d", n, d), func(t *testing.T) {
				sp := newSyncPair(t, n, d, uint64(n+d))
				a, b := sp.net.node(sp.a), sp.net.node(sp.b)
				res, err := a.m.syncRanges(testCtx(t), sp.b, []prefix{{}})
				if err != nil {
					t.Fatal(err)
				}
				if !res.equal {
					t.Fatalf("after the sync: %+v, not equal", res)
				}
				ca, cb := storeContents(t, a.store), storeContents(t, b.store)
				if !sameContents(ca, cb) || len(ca) != n {
					t.Fatalf("after the sync: %d and %d records, not the same (want %d)", len(ca), len(cb), n)
				}
				bound := 4 * float64(d+1) * math.Log2(float64(n)) * syncEntrySize
				if d == 0 {
					bound = 1 << 10
				}
				t.Logf("n=%d d=%d: %d bytes in %d rounds (bound %.0f), %d sent, %d received", n, d, res.bytes, res.rounds, bound, res.sent, res.received)
				if float64(res.bytes) > bound {
					t.Fatalf("%d bytes exchanged for %d differences among %d records, over %.0f", res.bytes, d, n, bound)
				}
				if got := a.m.repairBytes.Load(); got != uint64(res.bytes) {
					t.Fatalf("repair bytes of the initiator %d, the session says %d", got, res.bytes)
				}
				if got := b.m.repairBytes.Load(); got != uint64(res.bytes) {
					t.Fatalf("repair bytes of the responder %d, the session says %d", got, res.bytes)
				}
				if d >= 5 && (res.sent == 0 || res.received == 0) {
					t.Fatalf("%+v: expected records both ways", res)
				}
			})
		}
	}
}
