package replication

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A bulk put writes each entry as a plain put would: a fresh key at
// version 1 on its k holders in one round, a key with a record over it at
// the next version, an owned key of another peer refused on its own. An
// entry whose round is incomplete goes on alone: here the writer's table
// lacks the nearest holder of "referred", whose place a non-holder takes
// and answers with a referral; at w=k the entry is written to the real
// holders all the same, one record of version 1 (a single put would do
// the same).
func TestPutManyWritesEachEntryAsAPut(t *testing.T) {
	const k = 3
	net := newMemNet(t, 8, k, nil)
	writer := net.node(net.order[0])
	log := logStores(net)
	// A key the writer is far from: its table, not its own copy, decides.
	referred := ""
	for i := 0; referred == ""; i++ {
		if key := fmt.Sprintf("referred-%d", i); slices.Index(net.byDistance(key), writer.id) > k {
			referred = key
		}
	}
	nearest := net.byDistance(referred)[0]
	writer.known = slices.DeleteFunc(writer.known, func(p peer.ID) bool { return p == nearest })
	for _, p := range net.byDistance("old")[:k] {
		net.store(p, "old", "before", 4)
	}
	puts := []BulkPut{{Key: referred, Value: []byte("r")}, {Key: "old", Value: []byte("after")},
		{Key: "@" + net.order[1].String() + "/theirs", Value: []byte("x")}, {Key: "bad\x00key"}}
	for i := range 40 {
		puts = append(puts, BulkPut{Key: fmt.Sprintf("fresh-%d", i), Value: []byte("v"), TTL: time.Hour})
	}
	res, errs := writer.m.PutMany(testCtx(t), puts, k)
	for i, p := range puts {
		switch {
		case i == 2:
			if !errors.Is(errs[i], ErrForbidden) {
				t.Errorf("%q: %+v, %v; want ErrForbidden", p.Key, res[i], errs[i])
			}
			continue
		case i == 3:
			if errs[i] == nil {
				t.Errorf("%q: %+v, want an error", p.Key, res[i])
			}
			continue
		case errs[i] != nil:
			t.Fatalf("%q: %v", p.Key, errs[i])
		}
		want := uint64(1)
		if p.Key == "old" {
			want = 5
		}
		if res[i].Version != want || res[i].Acks != k || res[i].Replicas != k {
			t.Errorf("%q: %+v, want version %d acknowledged by %d of %d", p.Key, res[i], want, k, k)
		}
		// The writer stores a copy even where its table is wrong.
		if got := len(slices.DeleteFunc(slices.Clone(net.order), func(h peer.ID) bool { return net.version(h, p.Key) != want })); got < k {
			t.Errorf("%q: %d nodes have version %d, want %d", p.Key, got, want, k)
		}
	}
	if v := net.version(nearest, referred); v != 1 {
		t.Errorf("%q on its nearest holder, which the writer does not know: version %d, want 1", referred, v)
	}
	log.mu.Lock()
	stamps := map[int64]bool{}
	for _, rs := range log.stored {
		for _, r := range rs {
			if r.Key == referred {
				stamps[r.WrittenAt] = r.Version == 1
			}
		}
	}
	log.mu.Unlock()
	if len(stamps) != 1 || slices.Contains(slices.Collect(maps.Values(stamps)), false) {
		t.Errorf("the holders of %q stored %d different records (%v), want one of version 1", referred, len(stamps), stamps)
	}
	for _, p := range net.order {
		if r, err := net.node(p).store.Get(context.Background(), puts[2].Key); err != nil || r != nil {
			t.Errorf("the refused owned key on %s: %v, %v", p.ShortString(), r, err)
		}
	}
}

// createMany sends a holder its records as batches of up to maxBatch
// CREATEs, one message each: 100 records take two messages. Each answer
// is that of the CREATE alone (the record the holder has, if any); a
// request over the peer's request limit is answered busy on its own and
// its record is not stored.
func TestCreateManySendsBatches(t *testing.T) {
	p := newRPCPair(t, nil)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	priv, other := newKey(t), newKey(t)
	now := time.Now().UnixNano()
	const n = 100
	recs := make([]*Record, n)
	existing := map[int]*Record{}
	for i := range recs {
		k := fmt.Sprintf("m%d", i)
		recs[i] = signed(t, priv, Record{Key: k, Value: []byte(k), Version: 1, WrittenAt: now})
		if i%7 == 0 {
			existing[i] = signed(t, other, Record{Key: k, Value: []byte("old"), Version: 3, WrittenAt: now})
			if stored, err := p.store.Put(ctx, existing[i]); err != nil || !stored {
				t.Fatalf("storing %s: %v", k, err)
			}
		}
	}
	have, errs := tr.createMany(ctx, p.server.ID(), recs)
	for i, r := range recs {
		want := existing[i]
		switch {
		case errs[i] != nil:
			t.Fatalf("%s: %v", r.Key, errs[i])
		case want == nil && have[i] != nil:
			t.Fatalf("%s: got back %v, want stored", r.Key, have[i])
		case want != nil && (have[i] == nil || have[i].Compare(want) != 0):
			t.Fatalf("%s: got back %v, want the stored %v", r.Key, have[i], want)
		}
		if got, _ := p.store.Get(ctx, r.Key); got == nil || (want == nil && got.Compare(r) != 0) {
			t.Fatalf("%s stored as %v", r.Key, got)
		}
	}
	messages, batches, batched := p.client.stats.messages.Load(), p.client.stats.batches.Load(), p.client.stats.batched.Load()
	if messages != 2 || batches != 2 || batched != n {
		t.Fatalf("%d messages, %d batches carrying %d requests for %d records; want 2 batches carrying all", messages, batches, batched, n)
	}

	const burst = 10
	p = newRPCPair(t, nil)
	p.server.SetStreamHandler(testProto, (&rpcServer{store: p.store, limit: 1024 + messageOverhead, ctx: context.Background(),
		limits: newPeerLimits(0.001, burst)}).handle)
	tr = &transport{self: "not-the-server", store: p.store, client: p.client}
	more := make([]*Record, 3*burst)
	for i := range more {
		more[i] = signed(t, priv, Record{Key: fmt.Sprintf("busy%d", i), Value: []byte("v"), Version: 1, WrittenAt: now})
	}
	_, errs = tr.createMany(ctx, p.server.ID(), more)
	for i, r := range more {
		got, err := p.store.Get(ctx, r.Key)
		if err != nil {
			t.Fatal(err)
		}
		if i < burst && (errs[i] != nil || got == nil) {
			t.Fatalf("%s within the burst: %v, stored %v", r.Key, errs[i], got)
		}
		if i >= burst && (!errors.Is(errs[i], errBusy) || got != nil) {
			t.Fatalf("%s over the burst: %v, stored %v; want errBusy, not stored", r.Key, errs[i], got)
		}
	}
}

// An entry whose round reaches its quorum though a holder referred the
// writer elsewhere is done at once, and its record still goes to the peer
// the referral named, as a single put's would: here the writer's table
// lacks a key's nearest holder, and at the majority quorum (2 of 3) the
// two holders it knows are enough.
func TestPutManyFollowsReferralsPastTheQuorum(t *testing.T) {
	const k = 3
	net := newMemNet(t, 8, k, nil)
	writer := net.node(net.order[0])
	// Keys nearest one peer and far from the writer (its own copy would
	// count without a holder check).
	var nearest peer.ID
	var puts []BulkPut
	for _, p := range net.order[1:] {
		puts = puts[:0]
		for i := 0; i < 2000 && len(puts) < 3; i++ {
			key := fmt.Sprintf("near-%d", i)
			if d := net.byDistance(key); d[0] == p && slices.Index(d, writer.id) > k {
				puts = append(puts, BulkPut{Key: key, Value: []byte("v")})
			}
		}
		if len(puts) == 3 {
			nearest = p
			break
		}
	}
	if nearest == "" {
		t.Fatal("no peer is nearest 3 keys far from the writer")
	}
	writer.known = slices.DeleteFunc(writer.known, func(p peer.ID) bool { return p == nearest })
	res, errs := writer.m.PutMany(testCtx(t), puts, 0)
	for i, p := range puts {
		if errs[i] != nil || res[i].Version != 1 || res[i].Acks != 2 {
			t.Fatalf("%q: %+v, %v; want version 1 acknowledged by the 2 holders the writer knows", p.Key, res[i], errs[i])
		}
		eventually(t, p.Key+" on the holder only a referral named", func() bool { return net.version(nearest, p.Key) == 1 })
	}
}
