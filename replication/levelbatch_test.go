package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
)

// A LevelDB batch (levelBatch) writes its puts and deletes once committed,
// and its buffer, back in the pool, carries nothing into the next batch:
// batches that reuse it write only their own changes. A batch committed
// again, or used again after its commit, writes only what was added since.
func TestLevelBatchReusesItsBuffer(t *testing.T) {
	ctx := context.Background()
	d, s := diskStoreAt(t, t.TempDir(), NewValidator(1024))
	if _, ok := mustBatch(t, s).(*levelBatch); !ok {
		t.Fatal("a store over LevelDB does not use levelBatch")
	}
	get := func(k string) []byte {
		t.Helper()
		v, err := d.Get(ctx, ds.NewKey(k))
		if errors.Is(err, ds.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	value := func(round, i int) []byte { return bytes.Repeat([]byte{byte(round), byte(i)}, 600) }
	for round := range 5 { // each takes the buffer the one before gave back
		b := mustBatch(t, s)
		for i := range 20 {
			if err := b.Put(ctx, ds.NewKey(fmt.Sprintf("/t/%d/%d", round, i)), value(round, i)); err != nil {
				t.Fatal(err)
			}
		}
		if round > 0 {
			if err := b.Delete(ctx, ds.NewKey(fmt.Sprintf("/t/%d/0", round-1))); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(ctx); err != nil { // nothing left to write
			t.Fatal(err)
		}
	}
	for round := range 5 {
		for i := range 20 {
			got, want := get(fmt.Sprintf("/t/%d/%d", round, i)), value(round, i)
			if i == 0 && round < 4 {
				want = nil // deleted by the next round
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("/t/%d/%d: %d bytes, want %d", round, i, len(got), len(want))
			}
		}
	}
	b := mustBatch(t, s)
	if err := b.Put(ctx, ds.NewKey("/t/after"), []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, ds.NewKey("/t/again"), []byte("b")); err != nil { // used again after its commit
		t.Fatal(err)
	}
	if err := d.Delete(ctx, ds.NewKey("/t/after")); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if get("/t/after") != nil || string(get("/t/again")) != "b" {
		t.Fatalf("after a second commit: /t/after %q, /t/again %q; want only /t/again written", get("/t/after"), get("/t/again"))
	}
	b = mustBatch(t, s)
	if err := b.Put(ctx, ds.NewKey("/t/closed"), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx); !errors.Is(err, goleveldb.ErrClosed) {
		t.Fatalf("commit on a closed datastore: %v, want ErrClosed", err)
	}
}

func mustBatch(t *testing.T, s *Store) ds.Batch {
	t.Helper()
	b, err := s.batch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
