package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
)

// fillStore puts n records of distinct keys and returns them.
func fillStore(t *testing.T, s *Store, n int) []*Record {
	t.Helper()
	priv := newKey(t)
	recs := make([]*Record, n)
	for i := range recs {
		recs[i] = signed(t, priv, Record{Key: fmt.Sprintf("k%04d", i), Version: 1, WrittenAt: 1, Value: make([]byte, i%50)})
		if _, err := s.Put(context.Background(), recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// EachInRange returns exactly the records whose kad IDs lie in [lo, hi), in
// kad-ID order, with their stored sizes, over LevelDB and in memory.
func TestEachInRangeWalksARangeInKadIDOrder(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]*Store{"leveldb": newDiskStore(t, 1024), "memory": newMemStore(t, NewValidator(1024))} {
		t.Run(name, func(t *testing.T) {
			recs := fillStore(t, s, 300)
			ids := make([][]byte, len(recs))
			for i, r := range recs {
				ids[i] = kadID(r.Key)
			}
			slices.SortFunc(ids, bytes.Compare)
			rng := rand.New(rand.NewPCG(1, 2))
			bound := func() []byte { // a stored ID, a prefix of one, or random bytes
				switch rng.IntN(3) {
				case 0:
					return ids[rng.IntN(len(ids))]
				case 1:
					return ids[rng.IntN(len(ids))][:1+rng.IntN(3)]
				}
				b := make([]byte, 1+rng.IntN(4))
				for i := range b {
					b[i] = byte(rng.UintN(256))
				}
				return b
			}
			for range 50 {
				lo, hi := bound(), bound()
				if rng.IntN(5) == 0 {
					lo = nil
				}
				if rng.IntN(5) == 0 {
					hi = nil
				}
				var want [][]byte
				for _, id := range ids {
					if bytes.Compare(id, lo) >= 0 && (hi == nil || bytes.Compare(id, hi) < 0) {
						want = append(want, id)
					}
				}
				var got [][]byte
				err := s.EachInRange(ctx, lo, hi, func(id []byte, r *Record, size int) error {
					if !bytes.Equal(kadID(r.Key), id) || size != len(encodeEntry(r.Key, r.Marshal())) {
						t.Fatalf("%q: id %x, size %d", r.Key, id, size)
					}
					got = append(got, id)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("[%x, %x): got %d records, want %d", lo, hi, len(got), len(want))
				}
			}
			stop := errors.New("stop")
			calls := 0
			err := s.EachInRange(ctx, nil, nil, func([]byte, *Record, int) error { calls++; return stop })
			if !errors.Is(err, stop) || calls != 1 {
				t.Fatalf("fn's error: %v after %d calls; want it returned after 1", err, calls)
			}
		})
	}
}

// Counts follow every write and agree with a count of the datastore when
// the store opens again.
func TestStoreCountsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, s := diskStoreAt(t, dir, NewValidator(1024))
	recs := fillStore(t, s, 40)
	priv := newKey(t)
	bigger := signed(t, priv, Record{Key: recs[0].Key, Version: 2, WrittenAt: 2, Value: make([]byte, 500)})
	if _, err := s.PutNewer(ctx, bigger); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[1:5] {
		if err := s.Remove(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(ctx, signed(t, priv, Record{Key: "created", Version: 1, WrittenAt: 1, Value: []byte("c")})); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, wantRecords int) {
		t.Helper()
		records, size := s.Counts()
		var walked int
		var walkedBytes int64
		if err := s.EachInRange(ctx, nil, nil, func(_ []byte, _ *Record, n int) error {
			walked++
			walkedBytes += int64(n)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if records != wantRecords || records != walked || size != walkedBytes {
			t.Fatalf("counts %d records, %d bytes; the store holds %d records, %d bytes; want %d records", records, size, walked, walkedBytes, wantRecords)
		}
	}
	check(s, 37)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	_, s = diskStoreAt(t, dir, NewValidator(1024))
	check(s, 37)
	if _, err := s.SetAside(ctx); err != nil {
		t.Fatal(err)
	}
	check(s, 0)
}

// change is one call of an onChange observer.
type change struct {
	key      string
	old, new uint64 // versions; 0 = absent
}

// The observers hear of every change, on every write path, with the
// record before and after, and of nothing else.
func TestStoreObserversHearEveryChange(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(t, NewValidator(1024))
	var heard [2][]change
	for i := range heard {
		s.onChange(func(id []byte, key string, old, new []byte) {
			if !bytes.Equal(id, kadID(key)) {
				t.Errorf("observer %d: id %x for %q", i, id, key)
			}
			v := func(wire []byte) uint64 {
				if wire == nil {
					return 0
				}
				r, err := Unmarshal(key, wire)
				if err != nil {
					t.Fatal(err)
				}
				return r.Version
			}
			heard[i] = append(heard[i], change{key, v(old), v(new)})
		})
	}
	priv := newKey(t)
	rec := func(v uint64) *Record {
		return signed(t, priv, Record{Key: "k", Version: v, WrittenAt: int64(v), Value: []byte{byte(v)}})
	}
	steps := []func() error{
		func() error { _, err := s.Create(ctx, rec(1)); return err },
		func() error { _, err := s.Create(ctx, rec(5)); return err }, // refused: k is stored
		func() error { _, err := s.Put(ctx, rec(3)); return err },
		func() error { _, err := s.Put(ctx, rec(3)); return err }, // stored again as it was
		func() error { _, err := s.Put(ctx, rec(2)); return err }, // older: refused
		func() error { _, err := s.PutNewer(ctx, rec(4)); return err },
		func() error { return s.Remove(ctx, rec(3)) }, // not the stored record
		func() error { return s.Remove(ctx, rec(4)) },
		func() error { _, err := s.Put(ctx, rec(6)); return err },
		func() error { _, err := s.SetAside(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	want := []change{{"k", 0, 1}, {"k", 1, 3}, {"k", 3, 4}, {"k", 4, 0}, {"k", 0, 6}, {"k", 6, 0}}
	for i := range heard {
		if !slices.Equal(heard[i], want) {
			t.Errorf("observer %d heard %v, want %v", i, heard[i], want)
		}
	}
}

// An entry that does not decode is logged and counted, reads as absent and
// stays in place until a write of its key replaces it.
func TestStoreKeepsAnUndecodableEntry(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	recs := fillStore(t, s, 3)
	for i, junk := range [][]byte{{0xff}, encodeEntry("another key", recs[1].Marshal()), encodeEntry(recs[2].Key, []byte{9, 9})} {
		dk := entryKey(recordPrefix, kadID(recs[i].Key))
		if err := s.d.Put(ctx, dk, junk); err != nil {
			t.Fatal(err)
		}
		s.cache.written(string(kadID(recs[i].Key)))
		before := s.corrupt.Load()
		if r, err := s.Get(ctx, recs[i].Key); r != nil || (err != nil) != (i == 2) {
			t.Fatalf("entry %d: read %v, %v", i, r, err)
		}
		if i < 2 && s.corrupt.Load() != before+1 {
			t.Fatalf("entry %d: corrupt count %d, want %d", i, s.corrupt.Load(), before+1)
		}
		if has, err := s.d.Has(ctx, dk); err != nil || !has {
			t.Fatalf("entry %d deleted on read: %v, %v", i, has, err)
		}
	}
	walked := 0
	if err := s.EachInRange(ctx, nil, nil, func([]byte, *Record, int) error { walked++; return nil }); err != nil || walked != 0 {
		t.Fatalf("walk: %d records, %v; want none", walked, err)
	}
	for _, r := range recs {
		if stored, err := s.Put(ctx, r); err != nil || !stored {
			t.Fatalf("put over a bad entry: %v, %v", stored, err)
		}
		if got := version(t, s, r.Key); got != 1 {
			t.Fatalf("%q: read v%d after the put, want v1", r.Key, got)
		}
	}
	if n, _ := s.Counts(); n != len(recs) {
		t.Fatalf("counts %d records, want %d", n, len(recs))
	}
}

// A datastore written in a newer layout is refused, not misread.
func TestStoreRefusesANewerLayout(t *testing.T) {
	d, _ := diskStoreAt(t, t.TempDir(), NewValidator(1024))
	if err := d.Put(context.Background(), layoutKey, []byte("3")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(context.Background(), d, NewValidator(1024), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("opened a store of layout 3")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry("k", []byte{1, 2, 3}))
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{5, 'a'})
	f.Fuzz(func(t *testing.T, entry []byte) {
		key, wire, err := decodeEntry(entry)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeEntry(key, wire), entry) && entry[0]&0x80 == 0 {
			t.Fatalf("%x decodes to %q, %x, which encode differently", entry, key, wire)
		}
		_, _ = entryRecord(make([]byte, 32), entry)
	})
}
