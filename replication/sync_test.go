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

// syncPair is two nodes of a memNet on LevelDB stores, holding the same n
// records but for d random differences of four kinds: a record only on one
// side (either), or a newer version on one side (either).
type syncPair struct {
	net  *memNet
	a, b peer.ID
}

func newSyncPair(t *testing.T, n, d int, seed uint64) *syncPair {
	net := newMemNetOn(t, 2, 2, nil, func() *Store { return newBenchStore(t) })
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
				res, err := a.m.syncRanges(longCtx(t), sp.b, []prefix{{}}, syncBoth)
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

// One holder that missed many keys among thousands converges by the
// anti-entropy sessions of a sweep: no key is audited, and repair bytes are
// counted. A second round finds everything in sync.
func TestMemAntiEntropyRestoresMissedKeysWithoutAudits(t *testing.T) {
	const keys, k = 3000, 3
	net := newMemNet(t, 6, k, nil)
	ctx := longCtx(t)
	priv := net.node(net.order[0]).priv
	at := time.Now().Add(-2 * time.Hour).UnixNano()
	victim := net.order[2]
	missed := 0
	for i := range keys {
		key := fmt.Sprintf("key-%d", i)
		r := signed(t, priv, Record{Key: key, Value: []byte("v"), Version: 1, WrittenAt: at})
		for _, h := range net.byDistance(key)[:k] {
			if h == victim && i%3 != 0 {
				missed++
				continue
			}
			if _, err := net.node(h).store.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if missed < 500 {
		t.Fatalf("the victim misses only %d keys", missed)
	}
	sweep := func() {
		for _, p := range net.order {
			m := net.node(p).m
			m.antiEntropy(ctx, regions(append(m.router.tablePeers(), m.self), m.cfg.Factor))
		}
	}
	sweep()
	var audits, repairBytes uint64
	for _, p := range net.order {
		st := net.node(p).m.Stats()
		audits += st.AuditsTotal
		repairBytes += st.RepairBytes
	}
	for i := range keys {
		key := fmt.Sprintf("key-%d", i)
		for _, h := range net.byDistance(key)[:k] {
			if net.version(h, key) != 1 {
				t.Fatalf("after a sweep of anti-entropy, holder %s lacks %s (%d missed)", h.ShortString(), key, missed)
			}
		}
	}
	if audits != 0 || repairBytes == 0 {
		t.Fatalf("after the sweep: %d audits, %d repair bytes; want none and some", audits, repairBytes)
	}
	// In sync now: a second sweep syncs only the pairs whose digests
	// changed since they agreed (none, or a round trip of a few bytes per
	// region).
	sessions := 0
	for _, p := range net.order {
		sessions += net.count("sync", p)
	}
	before := repairBytes
	sweep()
	repairBytes = 0
	for _, p := range net.order {
		repairBytes += net.node(p).m.Stats().RepairBytes
		sessions -= net.count("sync", p)
	}
	t.Logf("%d keys, %d missed by one holder: %d repair bytes; a second sweep: %d bytes in %d requests", keys, missed, before, repairBytes-before, -sessions)
	// Per missed key: its record, its share of the entries and digests of
	// the ranges that differ, and at worst a second copy from the victim's
	// other partner, whose session ran at the same time.
	if perKey := float64(before) / float64(missed); perKey > 2000 {
		t.Fatalf("%.0f repair bytes per missed key", perKey)
	}
	if idle := repairBytes - before; idle > 8<<10 {
		t.Fatalf("a sweep of nodes in sync cost %d repair bytes", idle)
	}
}

// BenchmarkSyncInSync40k measures a sync session between two holders of the
// same 40,000 records (LevelDB), over the prefixes they share in a network
// of 20 nodes with k = 8: the steady state of anti-entropy.
func BenchmarkSyncInSync40k(b *testing.B) {
	const n = 40000
	net := newMemNetOn(b, 2, 8, nil, func() *Store { return newBenchStore(b) })
	a, o := net.order[0], net.order[1]
	fillPair(b, net.node(a).priv, net.node(a).store, net.node(o).store, n, 0, 1)
	peers := append(randomPeers(b, 18), a, o)
	ps := regionPartners(min(a, o), regions(peers, 8))[max(a, o)]
	from := min(a, o)
	ctx := context.Background()
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := net.node(from).m.syncRanges(ctx, max(a, o), ps, syncBoth)
		if err != nil || !res.equal {
			b.Fatalf("%+v, %v", res, err)
		}
		bytes += res.bytes
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/session")
	b.ReportMetric(float64(len(ps)), "prefixes")
}

// A session over more prefixes than one group holds (4,096 of them, as a
// large network's regions would be) still reconciles every one.
func TestSyncOverManyPrefixes(t *testing.T) {
	sp := newSyncPair(t, 1000, 10, 3)
	a, b := sp.net.node(sp.a), sp.net.node(sp.b)
	var ps []prefix
	for i := range 1 << 12 {
		ps = append(ps, prefix{}.extend(i, 12))
	}
	res, err := a.m.syncRanges(longCtx(t), sp.b, ps, syncBoth)
	if err != nil || !res.equal {
		t.Fatalf("sync over %d prefixes: %+v, %v", len(ps), res, err)
	}
	if !sameContents(storeContents(t, a.store), storeContents(t, b.store)) {
		t.Fatal("the stores differ after the sync")
	}
	res, err = a.m.syncRanges(longCtx(t), sp.b, ps, syncBoth)
	t.Logf("in sync over %d prefixes: %d bytes in %d rounds", len(ps), res.bytes, res.rounds)
	if err != nil || !res.equal || res.rounds != 1 {
		t.Fatalf("a second sync: %+v, %v", res, err)
	}
}

// BenchmarkSyncFill measures a sync session that fills an empty holder
// (LevelDB) with 4,000 records of 1 KiB from another: the work of a
// survivor and the replacement of a dead holder, per record moved.
func BenchmarkSyncFill(b *testing.B) {
	const n = 4000
	ctx := context.Background()
	priv := newKey(b)
	at := time.Now().Add(-time.Hour).UnixNano()
	recs := make([]*Record, n)
	for i := range recs {
		recs[i] = signed(b, priv, Record{Key: fmt.Sprintf("fill-%d", i), Value: make([]byte, 1024), Version: 1, WrittenAt: at})
	}
	b.ReportAllocs()
	for range b.N {
		b.StopTimer()
		net := newMemNetOn(b, 2, 8, nil, func() *Store { return newBenchStore(b) })
		a, o := net.order[0], net.order[1]
		for _, r := range recs {
			if _, err := net.node(a).store.Put(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		res, err := net.node(a).m.syncRanges(ctx, o, []prefix{{}}, syncBoth)
		if err != nil || res.sent != n {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
