package replication

import (
	"context"
	"sync"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// batch returns a datastore batch for writeBatch. Over LevelDB its buffer
// is reused (levelBatch); over any other datastore it is the datastore's.
func (s *Store) batch(ctx context.Context) (ds.Batch, error) {
	if l, ok := s.d.(*leveldb.Datastore); ok {
		return &levelBatch{db: l.DB}, nil
	}
	return s.d.Batch(ctx)
}

// levelBatch is a LevelDB batch whose buffer comes from a pool at the
// first change and goes back once the batch is written. go-ds-leveldb
// makes each batch anew and goleveldb grows it by doubling as records are
// added, so a holder's batch of a few dozen CREATEs (CreateBatch)
// allocated, zeroed and copied several times its size, where a single Put
// draws goleveldb's own pooled batch. It is written as go-ds-leveldb
// writes a batch: one DB.Write asking for a sync, which the datastore's
// NoSync option (storage.sync off) turns off.
type levelBatch struct {
	db *goleveldb.DB
	b  *goleveldb.Batch
}

// maxPooledBatch is the largest batch buffer kept for reuse; a larger
// one (a sync of big records) is left to the garbage collector.
const maxPooledBatch = 1 << 20

var levelBatches = sync.Pool{New: func() any { return new(goleveldb.Batch) }}

func (b *levelBatch) buffer() *goleveldb.Batch {
	if b.b == nil {
		b.b = levelBatches.Get().(*goleveldb.Batch)
	}
	return b.b
}

func (b *levelBatch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.buffer().Put(key.Bytes(), value)
	return nil
}

func (b *levelBatch) Delete(_ context.Context, key ds.Key) error {
	b.buffer().Delete(key.Bytes())
	return nil
}

// Commit writes the batch's changes and empties it: goleveldb keeps no
// reference to a batch once Write returns. A closed datastore fails it
// (goleveldb's ErrClosed).
func (b *levelBatch) Commit(context.Context) error {
	if b.b == nil {
		return nil
	}
	err := b.db.Write(b.b, &opt.WriteOptions{Sync: true})
	if len(b.b.Dump()) <= maxPooledBatch {
		b.b.Reset()
		levelBatches.Put(b.b)
	}
	b.b = nil
	return err
}
