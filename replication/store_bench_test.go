package replication

import (
	"context"
	"fmt"
	"testing"

	leveldb "github.com/ipfs/go-ds-leveldb"
)

// newBenchStore returns a store over an on-disk LevelDB datastore that does
// not fsync each write, as a node runs it by default (storage.sync off):
// for benchmarks, and tests that write many records.
func newBenchStore(b testing.TB) *Store {
	b.Helper()
	d, err := leveldb.NewDatastore(b.TempDir(), &leveldb.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return openStore(b, d, NewValidator(1024))
}

// benchRecords are 4,096 signed records of 256-byte values under distinct
// keys, their signatures already verified (so the benchmarks measure the
// store, not Ed25519).
func benchRecords(b *testing.B, s *Store) []*Record {
	b.Helper()
	priv := newKey(b)
	recs := make([]*Record, 4096)
	for i := range recs {
		recs[i] = signed(b, priv, Record{Key: fmt.Sprintf("bench/%05d", i), Version: 1, WrittenAt: 1, Value: make([]byte, 256)})
		if err := s.valid.check(recs[i]); err != nil {
			b.Fatal(err)
		}
	}
	return recs
}

// BenchmarkStorePut stores records in a LevelDB store: the first 4,096
// are new keys, the rest store the same records again.
func BenchmarkStorePut(b *testing.B) {
	ctx := context.Background()
	s := newBenchStore(b)
	recs := benchRecords(b, s)
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Put(ctx, recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStoreGet reads 4,096 keys of a LevelDB store in turn: more than
// the read cache holds, so every read goes to LevelDB.
func BenchmarkStoreGet(b *testing.B) {
	ctx := context.Background()
	s := newBenchStore(b)
	recs := benchRecords(b, s)
	for _, r := range recs {
		if _, err := s.Put(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if r, err := s.Get(ctx, recs[i%len(recs)].Key); err != nil || r == nil {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkStoreCreate creates records of new keys in a LevelDB store, as a
// holder does for each put of a new key: one lookup that finds nothing and
// one write. The signatures are verified beforehand, 4,096 at a time (fewer
// than the signature cache holds), so it measures the store, not Ed25519.
func BenchmarkStoreCreate(b *testing.B) {
	ctx := context.Background()
	s := newBenchStore(b)
	priv := newKey(b)
	recs := make([]*Record, 4096)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(recs) == 0 {
			b.StopTimer()
			for j := range recs {
				recs[j] = signed(b, priv, Record{Key: fmt.Sprintf("create/%08d", i+j), Version: 1, WrittenAt: 1, Value: make([]byte, 1024)})
				if err := s.valid.check(recs[j]); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		if have, err := s.Create(ctx, recs[i%len(recs)]); err != nil || have != nil {
			b.Fatal(have, err)
		}
	}
}

// freshRecords fills recs with signed records of 1 KiB values under new
// keys (from n on), their signatures already verified.
func freshRecords(b *testing.B, s *Store, recs []*Record, n int) {
	b.Helper()
	priv := newKey(b)
	for j := range recs {
		recs[j] = signed(b, priv, Record{Key: fmt.Sprintf("checked/%08d", n+j), Version: 1, WrittenAt: 1, Value: make([]byte, 1024)})
		if err := s.valid.check(recs[j]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStorePutChecked stores records of new keys that came from a
// peer one at a time (PutChecked, as a fetched copy is stored).
func BenchmarkStorePutChecked(b *testing.B) {
	ctx := context.Background()
	s := newBenchStore(b)
	recs := make([]*Record, 4096)
	none := func(*Record) error { return nil }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(recs) == 0 {
			b.StopTimer()
			freshRecords(b, s, recs, i)
			b.StartTimer()
		}
		if stored, bad, err := s.PutChecked(ctx, recs[i%len(recs)], none); !stored || bad != nil || err != nil {
			b.Fatal(stored, bad, err)
		}
	}
}

// BenchmarkStorePutCheckedBatch stores records of new keys in batches of
// 256, as a range sync does (PutCheckedBatch).
func BenchmarkStorePutCheckedBatch(b *testing.B) {
	ctx := context.Background()
	s := newBenchStore(b)
	recs := make([]*Record, 256)
	none := func(*Record) error { return nil }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		freshRecords(b, s, recs, i*len(recs))
		b.StartTimer()
		for _, res := range s.PutCheckedBatch(ctx, recs, none) {
			if !res.stored || res.bad != nil || res.err != nil {
				b.Fatal(res)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
