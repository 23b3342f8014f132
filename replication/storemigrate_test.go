package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/multiformats/go-base32"
	"google.golang.org/protobuf/proto"
)

// v1Entry is r as dhtnode stored it before the store owned its layout
// (store layout 1, kad-dht's value store): kad-dht's protobuf record,
// stamped with its receive time, under "/v/<base32 of the DHT key>", or
// under "/dhtnode-set-aside/<base32>" when set aside.
func v1Entry(t testing.TB, r *Record, aside bool) (ds.Key, []byte) {
	t.Helper()
	dhtKey := DHTKey(r.Key)
	data, err := proto.Marshal(&recpb.Record{Key: []byte(dhtKey), Value: r.Marshal(), TimeReceived: time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		t.Fatal(err)
	}
	prefix := v1RecordPrefix
	if aside {
		prefix = v1AsidePrefix
	}
	return ds.NewKey(prefix + base32.RawStdEncoding.EncodeToString([]byte(dhtKey))), data
}

// copyDir copies the files of dir into a new temporary directory.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// keysUnder lists the datastore keys under prefix.
func keysUnder(t *testing.T, s *Store, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.scan(context.Background(), prefix, prefixEnd(prefix), false, func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// testdata/store-layout1 is a LevelDB store written by dhtnode before the
// store owned its layout: three records set aside, then key-00..key-19 at
// versions 1..20, a tombstone "deleted" at version 3 and an owned key
// "@<writer>/owned" at version 2. Opening it moves every record to the
// current layout, once.
func TestStoreMigratesAStoreOfLayout1(t *testing.T) {
	ctx := context.Background()
	dir := copyDir(t, filepath.Join("testdata", "store-layout1"))
	for open := range 2 { // the second open finds nothing to move
		d, err := leveldb.NewDatastore(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := openStore(t, d, NewValidator(1024))
		for i := range 20 {
			r, err := s.Get(ctx, fmt.Sprintf("key-%02d", i))
			if err != nil || r == nil || r.Version != uint64(i+1) || string(r.Value) != fmt.Sprintf("value-%02d", i) || s.valid.check(r) != nil {
				t.Fatalf("open %d: key-%02d = %+v, %v", open, i, r, err)
			}
		}
		if r, err := s.Get(ctx, "deleted"); err != nil || r == nil || !r.Deleted || r.Version != 3 {
			t.Fatalf("open %d: the tombstone: %+v, %v", open, r, err)
		}
		var owned *Record
		if err := s.Each(ctx, func(r *Record, _ int) error {
			if strings.HasSuffix(r.Key, "/owned") {
				owned = r
			}
			return nil
		}); err != nil || owned == nil || !keepsForever(owned.Key) || owned.Version != 2 {
			t.Fatalf("open %d: the owned key: %+v, %v", open, owned, err)
		}
		aside, err := s.setAside(ctx)
		if err != nil || len(aside) != 3 || !s.isSetAside(ctx, "aside-1") {
			t.Fatalf("open %d: set aside %d records, %v; want 3", open, len(aside), err)
		}
		if n, _ := s.Counts(); n != 22 {
			t.Fatalf("open %d: counts %d records, want 22", open, n)
		}
		if old := append(keysUnder(t, s, v1RecordPrefix), keysUnder(t, s, v1AsidePrefix)...); len(old) > 0 {
			t.Fatalf("open %d: layout 1 keys left: %v", open, old)
		}
		if v, err := d.Get(ctx, layoutKey); err != nil || string(v) != layoutVersion {
			t.Fatalf("open %d: layout version %q, %v", open, v, err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// failingCommits fails every batch commit after the first ok ones, as a
// node killed during its migration would stop writing.
type failingCommits struct {
	ds.Batching
	ok int
}

func (f *failingCommits) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := f.Batching.Batch(ctx)
	return &failingBatch{Batch: b, f: f}, err
}

type failingBatch struct {
	ds.Batch
	f *failingCommits
}

func (b *failingBatch) Commit(ctx context.Context) error {
	if b.f.ok == 0 {
		return errors.New("killed")
	}
	b.f.ok--
	return b.Batch.Commit(ctx)
}

// A migration that stops midway resumes where it stopped the next time the
// store opens; an old entry that does not decode is logged and left where
// it is.
func TestStoreMigrationResumesAfterAnInterruption(t *testing.T) {
	ctx := context.Background()
	d, err := leveldb.NewDatastore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	priv := newKey(t)
	const n = 2*migrateChunk + 500
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%05d", i)
		k, v := v1Entry(t, signed(t, priv, Record{Key: keys[i], Version: uint64(i + 1), WrittenAt: 1, Value: []byte(keys[i])}), false)
		if err := d.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	junk := ds.NewKey(v1RecordPrefix + "JUNK")
	if err := d.Put(ctx, junk, []byte("not a record")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewStore(ctx, &failingCommits{Batching: d, ok: 1}, NewValidator(1024), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a migration whose second batch failed succeeded")
	}
	if moved := keysUnder(t, &Store{d: d}, recordPrefix); len(moved) != migrateChunk {
		t.Fatalf("the interrupted migration moved %d records, want its first batch, %d", len(moved), migrateChunk)
	}
	s := openStore(t, d, NewValidator(1024))
	for i, key := range keys {
		if r, err := s.Get(ctx, key); err != nil || r == nil || r.Version != uint64(i+1) {
			t.Fatalf("%s: %+v, %v", key, r, err)
		}
	}
	if records, _ := s.Counts(); records != n {
		t.Fatalf("counts %d records, want %d", records, n)
	}
	if old := keysUnder(t, s, v1RecordPrefix); len(old) != 1 || old[0] != junk.String() {
		t.Fatalf("layout 1 keys left: %v; want only the undecodable one", old)
	}
}

// BenchmarkStoreMigrate opens a LevelDB store of 40,000 records in layout 1,
// moving them to the current layout.
func BenchmarkStoreMigrate(b *testing.B) {
	ctx := context.Background()
	priv := newKey(b)
	rec := signed(b, priv, Record{Key: "x", Version: 1, WrittenAt: 1, Value: make([]byte, 256)})
	for range b.N {
		b.StopTimer()
		d, err := leveldb.NewDatastore(b.TempDir(), &leveldb.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		batch, _ := d.Batch(ctx)
		for i := range 40000 {
			r := *rec // migration does not verify signatures: one serves every key
			r.Key = fmt.Sprintf("key-%06d", i)
			k, v := v1Entry(b, &r, false)
			if err := batch.Put(ctx, k, v); err != nil {
				b.Fatal(err)
			}
		}
		if err := batch.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s := openStore(b, d, NewValidator(1024))
		b.StopTimer()
		if n, _ := s.Counts(); n != 40000 {
			b.Fatalf("%d records after the migration", n)
		}
		d.Close()
		b.StartTimer()
	}
}
