package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/dhtnode/dhtnode/internal/loadbench"
)

// levelDBVariants are the node's LevelDB options and earlier ones, for
// comparison: "memtable-256KiB-l0-4" before session 16, "block-4KiB"
// LevelDB's default block size, the node's before session 19.
func levelDBVariants() []struct {
	name string
	opts *leveldb.Options
} {
	old := levelDBOptions(false)
	old.WriteBuffer, old.CompactionL0Trigger, old.WriteL0SlowdownTrigger, old.WriteL0PauseTrigger = 256<<10, 4, 8, 12
	small := levelDBOptions(false)
	small.BlockSize = 4 << 10
	return []struct {
		name string
		opts *leveldb.Options
	}{{"node", levelDBOptions(false)}, {"memtable-256KiB-l0-4", old}, {"block-4KiB", small}}
}

// benchKey is the i-th key of the LevelDB benchmarks: random, as kad IDs are.
func benchKey(i int) ds.Key {
	id := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return ds.NewKey("/r/" + hex.EncodeToString(id[:]))
}

// benchValue fills v with bytes that do not compress, as a signed record's
// are (a signature, and values that are often random or compressed).
func benchValue(rng *rand.Rand, v []byte) []byte {
	for i := 0; i+8 <= len(v); i += 8 {
		binary.LittleEndian.PutUint64(v[i:], rng.Uint64())
	}
	return v
}

// forEachLevelDB runs bench on a new store of each of levelDBVariants,
// with a seeded source of values.
func forEachLevelDB(b *testing.B, bench func(b *testing.B, d *leveldb.Datastore, rng *rand.Rand)) {
	for _, bc := range levelDBVariants() {
		b.Run(bc.name, func(b *testing.B) {
			d, err := leveldb.NewDatastore(b.TempDir(), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := d.Close(); err != nil {
					b.Error(err)
				}
			}()
			bench(b, d, rand.New(rand.NewPCG(1, 2)))
		})
	}
}

// BenchmarkLevelDBCreate is a holder's store work for a new record on the
// node's LevelDB options: a Get of the absent key (a CREATE is stored only
// if the key is absent) and a Put of 1.2 KiB under a random key (keys are
// kad IDs), with the compactions they cause, as CPU per record
// (cpu-µs/op). The cost grows with the store, so run it at the size of
// interest: 40,000 records is a node's share of 100,000 keys at k = 8 on
// 20 nodes (`-benchtime 40000x`), 4,000 of 10,000 keys.
func BenchmarkLevelDBCreate(b *testing.B) {
	forEachLevelDB(b, func(b *testing.B, d *leveldb.Datastore, rng *rand.Rand) {
		ctx := context.Background()
		value := make([]byte, 1200)
		loadbench.Run(b, 1, func(i int) error {
			k := benchKey(i)
			if _, err := d.Get(ctx, k); !errors.Is(err, ds.ErrNotFound) {
				return err
			}
			return d.Put(ctx, k, benchValue(rng, value))
		})
	})
}

// BenchmarkLevelDBGet reads records at random from a store of 40,000 (a
// node's share of 100,000 keys), compacted first so that every variant
// reads the same settled store, as CPU per read.
func BenchmarkLevelDBGet(b *testing.B) {
	const records = 40000
	forEachLevelDB(b, func(b *testing.B, d *leveldb.Datastore, rng *rand.Rand) {
		ctx := context.Background()
		value := make([]byte, 1200)
		for i := range records {
			if err := d.Put(ctx, benchKey(i), benchValue(rng, value)); err != nil {
				b.Fatal(err)
			}
		}
		if err := d.DB.CompactRange(util.Range{}); err != nil {
			b.Fatal(err)
		}
		loadbench.Run(b, 1, func(int) error {
			_, err := d.Get(ctx, benchKey(rng.IntN(records)))
			return err
		})
	})
}

// TestLevelDBOptions checks the level-0 triggers' order (a compaction
// trigger at or past the slow-down or stop trigger stalls writes for good)
// and that what is written through several memtable flushes and a level-0
// compaction is all there after the store is closed and opened again.
func TestLevelDBOptions(t *testing.T) {
	o := levelDBOptions(false)
	if !(o.CompactionL0Trigger < o.WriteL0SlowdownTrigger && o.WriteL0SlowdownTrigger < o.WriteL0PauseTrigger) {
		t.Fatalf("level-0 triggers %d, %d, %d: want compaction < slow-down < stop",
			o.CompactionL0Trigger, o.WriteL0SlowdownTrigger, o.WriteL0PauseTrigger)
	}
	dir := t.TempDir()
	ctx := t.Context()
	const n = (storeL0Tables + 2) * storeWriteBuffer / 1024 // a level-0 compaction and more of 1 KiB values
	key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/r/%08d", i)) }
	d, err := leveldb.NewDatastore(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := d.Put(ctx, key(i), make([]byte, 1024)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err = leveldb.NewDatastore(dir, levelDBOptions(false)); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	}()
	for i := range n {
		if ok, err := d.Has(ctx, key(i)); err != nil || !ok {
			t.Fatalf("record %d after reopening: present %v, %v", i, ok, err)
		}
	}
}
