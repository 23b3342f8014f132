package replication

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/peer"
)

// createOutcome classifies a Create's results for comparing CreateBatch
// with it: the error's text, but for the storage limit, whose message
// counts the bytes used at that moment.
func createOutcome(existing []byte, err error) string {
	switch {
	case errors.Is(err, ErrStorageFull):
		return "storage full"
	case err != nil:
		return "error: " + err.Error()
	case existing != nil:
		return fmt.Sprintf("exists: %x", existing)
	}
	return "stored"
}

// A batch of CREATEs (CreateBatch) answers each record as Create alone
// would, in order: a new key is stored, a key held already answers with
// its record (not validated: a forged CREATE of it finds it too), an
// invalid record and one past the storage limit are refused, a stored
// entry that does not decode is written over, and the later CREATEs of a
// key in the batch find the first one's record, or are stored if the first
// was refused. The new records are written in one datastore batch, and
// counted, cached and told to the observers as Create does.
func TestCreateBatchAnswersAsCreate(t *testing.T) {
	ctx := testCtx(t)
	priv := newKey(t)
	now := time.Now().UnixNano()
	rec := func(key string, v uint64, value string) *Record {
		return signed(t, priv, Record{Key: key, Value: []byte(value), Version: v, WrittenAt: now + int64(v)})
	}
	forge := func(r *Record) *Record {
		f := *r
		f.Value = []byte("changed after signing")
		return &f
	}
	type twin struct {
		d    *countingDatastore
		s    *Store
		told []string
	}
	open := func() *twin {
		tw := &twin{d: &countingDatastore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}}
		if err := tw.d.Put(ctx, entryKey(recordPrefix, kadID("garbled")), []byte{0xff}); err != nil {
			t.Fatal(err)
		}
		tw.s = openStore(t, tw.d, NewValidator(1024))
		tw.s.onChange(func(_ []byte, key string, _, _ []byte) { tw.told = append(tw.told, key) })
		for _, r := range []*Record{rec("held", 1, "h"), rec("held-too", 1, "h2")} {
			if _, err := tw.s.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		_, used := tw.s.Counts()
		if err := tw.s.LimitBytes(used + 900); err != nil { // room for the small ones, not big
			t.Fatal(err)
		}
		return tw
	}
	batched, alone := open(), open()
	batch := []*Record{
		rec("new-a", 1, "a"), rec("held", 1, "other"), forge(rec("forged", 1, "f")), rec("twice", 1, "t1"),
		rec("new-b", 1, "b"), forge(rec("held-too", 1, "x")), rec("twice", 1, "t2"), forge(rec("dup", 1, "d")),
		signed(t, priv, Record{Key: "big", Value: make([]byte, 1000), Version: 1, WrittenAt: now}),
		rec("dup", 1, "d2"), rec("garbled", 1, "g"),
	}
	puts, batches := batched.d.puts.Load(), batched.d.batches.Load()
	got := batched.s.CreateBatch(ctx, batch)
	for i, r := range batch {
		g := createOutcome(got[i].existing, got[i].err)
		if w := createOutcome(alone.s.Create(ctx, r)); g != w {
			t.Errorf("%d %s: %s; Create alone: %s", i, r.Key, g, w)
		}
	}
	want := []string{"stored", "exists", "error", "stored", "stored", "exists", "exists", "error", "storage full", "stored", "stored"}
	for i, w := range want {
		if g := createOutcome(got[i].existing, got[i].err); !strings.HasPrefix(g, w) {
			t.Errorf("%d %s: %s, want %s", i, batch[i].Key, g, w)
		}
	}
	if !bytes.Equal(got[6].existing, batch[3].Marshal()) {
		t.Errorf("the second CREATE of twice found %x, want the first's record", got[6].existing)
	}
	for _, key := range []string{"new-a", "held", "held-too", "twice", "new-b", "dup", "garbled", "forged", "big"} {
		g, err := batched.s.Get(ctx, key)
		w, _ := alone.s.Get(ctx, key)
		if err != nil || (g == nil) != (w == nil) || (g != nil && g.Compare(w) != 0) {
			t.Errorf("%s: stored %+v (%v), Create alone stored %+v", key, g, err, w)
		}
	}
	// new-a, twice, new-b and garbled in one batch; the second dup alone.
	if p, b := batched.d.puts.Load()-puts, batched.d.batches.Load()-batches; p != 5 || b != 1 {
		t.Errorf("%d puts in %d batches, want 5, 4 of them in one batch", p, b)
	}
	n, b := batched.s.Counts()
	if n2, b2 := alone.s.Counts(); n2 != n || b2 != b {
		t.Errorf("counted %d records of %d bytes, Create alone %d of %d", n, b, n2, b2)
	}
	if n2, b2 := openStore(t, batched.d, NewValidator(1024)).Counts(); n2 != n || b2 != b {
		t.Errorf("counted %d records of %d bytes, the datastore holds %d of %d", n, b, n2, b2)
	}
	slices.Sort(batched.told)
	slices.Sort(alone.told)
	if !slices.Equal(batched.told, alone.told) {
		t.Errorf("observers told of %v, Create alone %v", batched.told, alone.told)
	}
}

// CREATEs of the same keys from a batch and alone at once: each key is
// stored once, by one of them, and every other CREATE of it answers with
// that record.
func TestCreateBatchRacesCreate(t *testing.T) {
	ctx := testCtx(t)
	s := newMemStore(t, NewValidator(1024))
	const keys = 64
	writers := []string{"batch-1", "batch-2", "alone"}
	recs := make([][]*Record, len(writers))
	for w, name := range writers {
		priv := newKey(t)
		for i := range keys {
			recs[w] = append(recs[w], signed(t, priv, Record{Key: fmt.Sprintf("race/%02d", i), Value: []byte(name), Version: 1, WrittenAt: 1}))
		}
	}
	results := make([][]createdEntry, len(writers))
	var wg sync.WaitGroup
	for w, name := range writers {
		wg.Go(func() {
			if name == "alone" {
				for _, r := range recs[w] {
					existing, err := s.Create(ctx, r)
					results[w] = append(results[w], createdEntry{existing, err})
				}
				return
			}
			for part := range slices.Chunk(recs[w], 16) {
				results[w] = append(results[w], s.CreateBatch(ctx, part)...)
			}
		})
	}
	wg.Wait()
	for i := range keys {
		stored, err := s.getBytes(ctx, recs[0][i].Key)
		if err != nil || stored == nil {
			t.Fatalf("%s: %x, %v", recs[0][i].Key, stored, err)
		}
		creators := 0
		for w := range writers {
			res := results[w][i]
			switch {
			case res.err != nil:
				t.Errorf("%s by %s: %v", recs[w][i].Key, writers[w], res.err)
			case res.existing == nil:
				creators++
				if !bytes.Equal(stored, recs[w][i].Marshal()) {
					t.Errorf("%s: %s was told it stored its record, the store holds another", recs[w][i].Key, writers[w])
				}
			case !bytes.Equal(res.existing, stored):
				t.Errorf("%s: %s was answered with a record the store does not hold", recs[w][i].Key, writers[w])
			}
		}
		if creators != 1 {
			t.Errorf("%s: %d writers were told they stored it, want 1", recs[0][i].Key, creators)
		}
	}
}

// A holder serving a BATCH message answers each sub-request exactly as it
// would answer it alone, and writes the records of the batch's CREATEs in
// one datastore write.
func TestServeBatchStoresCreatesTogether(t *testing.T) {
	ctx := testCtx(t)
	priv := newKey(t)
	far, err := peer.IDFromPrivateKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	nearer := func(key string) []peer.AddrInfo {
		if strings.HasPrefix(key, "far/") {
			return []peer.AddrInfo{{ID: far}}
		}
		return nil
	}
	now := time.Now().UnixNano()
	rec := func(key, value string) *Record {
		return signed(t, priv, Record{Key: key, Value: []byte(value), Version: 1, WrittenAt: now})
	}
	type server struct {
		d  *countingDatastore
		sv *rpcServer
	}
	newServer := func() server {
		d := &countingDatastore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
		s := openStore(t, d, NewValidator(1024))
		if _, err := s.Put(ctx, rec("held", "h")); err != nil {
			t.Fatal(err)
		}
		return server{d: d, sv: &rpcServer{store: s, limit: 1024 + messageOverhead, nearer: nearer, ctx: ctx}}
	}
	batched, alone := newServer(), newServer()
	forged := rec("forged", "f")
	forged.Value = []byte("changed after signing")
	reqs := [][]byte{
		encodeRecordRequest(opCreate, rec("new/1", "1")),
		encodeRecordRequest(opCreate, rec("held", "other")),
		encodeRequest(opGet, "held", nil),
		encodeRecordRequest(opCreate, rec("new/2", "2")),
		encodeRecordRequest(opCreate, rec("far/1", "x")),
		encodeRequest(opCreate, "bad", []byte{0xff, 0xff}),
		encodeRecordRequest(opCreate, forged),
		encodeRecordRequest(opPut, rec("put/1", "p")),
		encodeRecordRequest(opCreate, rec("new/3", "3")),
		encodeRequest(opCreate, "", nil),
	}
	puts, batches := batched.d.puts.Load(), batched.d.batches.Load()
	answers, err := decodeBatchAnswer(batched.sv.serveBatch("asker", encodeBatch(reqs)), len(reqs))
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range reqs {
		if want := alone.sv.serve(req); !bytes.Equal(answers[i], want) {
			t.Errorf("request %d: answered %q in a batch, %q alone", i, answers[i], want)
		}
	}
	// new/1-3 in one batch, put/1 alone.
	if p, b := batched.d.puts.Load()-puts, batched.d.batches.Load()-batches; p != 4 || b != 1 {
		t.Errorf("%d puts in %d batches, want 4, 3 of them in one batch", p, b)
	}
}

// createMany to this node itself (its own copies of a bulk put's entries)
// creates them as CREATEs would, in one datastore write.
func TestCreateManyToSelfIsOneWrite(t *testing.T) {
	ctx := testCtx(t)
	d := &countingDatastore{Batching: dssync.MutexWrap(ds.NewMapDatastore())}
	s := openStore(t, d, NewValidator(1024))
	tr := &transport{self: "me", store: s}
	priv := newKey(t)
	now := time.Now().UnixNano()
	held := signed(t, priv, Record{Key: "own/held", Value: []byte("old"), Version: 3, WrittenAt: now})
	if _, err := s.Put(ctx, held); err != nil {
		t.Fatal(err)
	}
	recs := []*Record{held}
	for i := range 20 {
		recs = append(recs, signed(t, priv, Record{Key: fmt.Sprintf("own/%02d", i), Value: []byte("v"), Version: 1, WrittenAt: now}))
	}
	recs[0] = signed(t, priv, Record{Key: "own/held", Value: []byte("new"), Version: 1, WrittenAt: now})
	puts, batches := d.puts.Load(), d.batches.Load()
	have, errs := tr.createMany(ctx, "me", recs)
	for i, r := range recs {
		switch {
		case errs[i] != nil:
			t.Fatalf("%s: %v", r.Key, errs[i])
		case i == 0 && (have[i] == nil || have[i].Compare(held) != 0):
			t.Fatalf("%s: got back %v, want the stored %v", r.Key, have[i], held)
		case i > 0 && have[i] != nil:
			t.Fatalf("%s: got back %v, want stored", r.Key, have[i])
		}
	}
	if p, b := d.puts.Load()-puts, d.batches.Load()-batches; p != 20 || b != 1 {
		t.Errorf("%d puts in %d batches, want 20 in one batch", p, b)
	}
}
