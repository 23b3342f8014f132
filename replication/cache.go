package replication

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// The read cache keeps the wire bytes of recently read records in memory, so
// that a holder answers a read without a LevelDB lookup and a protobuf decode
// (together ≈ 10 % of a node's CPU under a read load, docs/benchmarks-history-2026.md).
// Records over maxCachedRecord bytes are not cached: the cache holds at most
// readCacheEntries × maxCachedRecord bytes.
const (
	readCacheEntries = 1024
	maxCachedRecord  = 4 << 10
)

// readCache maps kad IDs to the wire form of the records stored under them.
// The store's write path keeps it coherent: every write drops the key after
// the write and bumps gen; a read that missed
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
func (c *readCache) written(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries.Remove(k)
}
