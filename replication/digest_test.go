package replication

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// The digest table, kept up to date by the store's change hook through
// puts, newer versions, removals and a set-aside, agrees with digests
// computed from the records for prefixes of every length, and its parts
// with those of the sub-prefixes.
func TestDigestTableFollowsTheStore(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(8, 9))
	priv := newKey(t)
	store := newMemStore(t, NewValidator(1024))
	at := time.Now().Add(-time.Hour).UnixNano()
	rec := func(i int, v uint64) *Record {
		return signed(t, priv, Record{Key: fmt.Sprintf("k%d", i), Value: fmt.Appendf(nil, "%d", v), Version: v, WrittenAt: at})
	}
	for i := range 300 { // some before the table is built
		if _, err := store.Put(ctx, rec(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	table, err := newDigestTable(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		for range 200 {
			p := prefixOf(keyIn(r, prefix{}), r.IntN(leafBits+8))
			var want rangeDigest
			lo, hi := p.bounds()
			err := store.EachInRange(ctx, lo, hi, func(id []byte, rc *Record, _ int) error {
				want.add(digestOf(id, rc.Marshal()))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := table.digest(ctx, p)
			if err != nil || got != want {
				t.Fatalf("%s: digest of %v = %+v (%v), from the records %+v", when, p, got, err, want)
			}
			parts, err := table.parts(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var sum rangeDigest
			for i, d := range parts {
				if sub, _ := table.digest(ctx, p.extend(i, splitBits(p))); sub != d {
					t.Fatalf("%s: part %d of %v = %+v, its digest %+v", when, i, p, d, sub)
				}
				sum.merge(d)
			}
			if sum != want {
				t.Fatalf("%s: the parts of %v add up to %+v, not %+v", when, p, sum, want)
			}
		}
	}
	check("built")
	for i := range 600 {
		switch r.IntN(3) {
		case 0:
			_, err = store.Put(ctx, rec(r.IntN(600), uint64(2+i)))
		case 1:
			err = store.Remove(ctx, rec(r.IntN(300), 1))
		default:
			_, err = store.Create(ctx, rec(300+r.IntN(600), 1))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	check("after writes")
	if _, err := store.SetAside(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := table.digest(ctx, prefix{}); d != (rangeDigest{}) {
		t.Fatalf("after the set-aside the whole key space digests to %+v, not empty", d)
	}
}
