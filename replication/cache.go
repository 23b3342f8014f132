package replication

import (
	"context"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	ds "github.com/ipfs/go-datastore"
)

// The read cache keeps the wire bytes of recently read records in memory, so
// that a holder answers a read without a LevelDB lookup and a protobuf decode
// (together ≈ 10 % of a node's CPU under a read load, BENCHMARKS.md).
// Records over maxCachedRecord bytes are not cached: the cache holds at most
// readCacheEntries × maxCachedRecord bytes.
const (
	readCacheEntries = 1024
	maxCachedRecord  = 4 << 10
)

// readCache maps datastore keys to the record bytes stored under them. It is
// kept coherent by watchedDatastore: every write, by this package or by
// kad-dht, drops the key after the write and bumps gen; a read that missed
// adds what it read only if gen did not move meanwhile, so an entry is never
// older than the datastore's copy.
type readCache struct {
	mu      sync.Mutex
	gen     uint64
	entries *simplelru.LRU[string, []byte]
}

func newReadCache() *readCache {
	entries, err := simplelru.NewLRU[string, []byte](readCacheEntries, nil)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return &readCache{entries: entries}
}

// get returns the cached bytes of k, or the generation to pass to add.
func (c *readCache) get(k string) (data []byte, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok = c.entries.Get(k)
	return data, c.gen, ok
}

// add caches data under k unless a write happened since get returned gen.
func (c *readCache) add(k string, data []byte, gen uint64) {
	if len(data) > maxCachedRecord {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.entries.Add(k, data)
	}
}

// written drops k; call it after every write of k has completed.
func (c *readCache) written(k ds.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Remove(k.String())
}

// watchedDatastore passes every call to the ordered datastore it wraps and,
// after each write (Put, Delete, batch Commit and the conditional writes),
// tells the cache which keys changed.
type watchedDatastore struct {
	*orderedDatastore
	cache *readCache
}

func (d *watchedDatastore) Put(ctx context.Context, k ds.Key, value []byte) error {
	defer d.cache.written(k)
	return d.orderedDatastore.Put(ctx, k, value)
}

func (d *watchedDatastore) Delete(ctx context.Context, k ds.Key) error {
	defer d.cache.written(k)
	return d.orderedDatastore.Delete(ctx, k)
}

func (d *watchedDatastore) putIfAbsent(ctx context.Context, k ds.Key, value []byte) (held []byte, err error) {
	held, err = d.orderedDatastore.putIfAbsent(ctx, k, value)
	if err == nil && held == nil {
		d.cache.written(k)
	}
	return held, err
}

func (d *watchedDatastore) putUnless(ctx context.Context, k ds.Key, value []byte, held func(stored []byte) []byte) ([]byte, error) {
	answer, err := d.orderedDatastore.putUnless(ctx, k, value, held)
	if err == nil && answer == nil {
		d.cache.written(k)
	}
	return answer, err
}

func (d *watchedDatastore) deleteIf(ctx context.Context, k ds.Key, gone func(stored []byte) bool) (bool, error) {
	deleted, err := d.orderedDatastore.deleteIf(ctx, k, gone)
	if deleted {
		d.cache.written(k)
	}
	return deleted, err
}

func (d *watchedDatastore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := d.orderedDatastore.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &watchedBatch{Batch: b, cache: d.cache}, nil
}

// watchedBatch notes the keys a batch writes and reports them after Commit.
type watchedBatch struct {
	ds.Batch
	cache *readCache
	mu    sync.Mutex
	keys  []ds.Key
}

func (b *watchedBatch) note(k ds.Key) {
	b.mu.Lock()
	b.keys = append(b.keys, k)
	b.mu.Unlock()
}

func (b *watchedBatch) Put(ctx context.Context, k ds.Key, value []byte) error {
	b.note(k)
	return b.Batch.Put(ctx, k, value)
}

func (b *watchedBatch) Delete(ctx context.Context, k ds.Key) error {
	b.note(k)
	return b.Batch.Delete(ctx, k)
}

func (b *watchedBatch) Commit(ctx context.Context) error {
	b.mu.Lock()
	keys := b.keys
	b.keys = nil
	b.mu.Unlock()
	defer func() {
		for _, k := range keys {
			b.cache.written(k)
		}
	}()
	return b.Batch.Commit(ctx)
}
