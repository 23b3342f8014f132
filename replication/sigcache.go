package replication

import (
	"crypto/sha256"
	"sync"
)

// sigCacheSize bounds the verified-signature cache (about 40 bytes an entry).
const sigCacheSize = 1 << 14

// sigCache remembers records whose signatures verified, keyed by a hash of
// the signed bytes and the signature. A holder checks one record several
// times (kad-dht validates the incoming record and again the stored one it
// selects against), and Ed25519 verification dominates the CPU of a write.
type sigCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

func newSigCache() *sigCache { return &sigCache{seen: make(map[[sha256.Size]byte]struct{})} }

func sigCacheKey(r *Record) [sha256.Size]byte {
	h := sha256.New()
	h.Write(r.signingBytes())
	h.Write(r.Signature)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// verify is r.Verify, skipped for a record verified before.
func (c *sigCache) verify(r *Record) error {
	if c == nil {
		return r.Verify()
	}
	k := sigCacheKey(r)
	c.mu.Lock()
	_, ok := c.seen[k]
	c.mu.Unlock()
	if ok {
		return nil
	}
	if err := r.Verify(); err != nil {
		return err
	}
	c.mu.Lock()
	if len(c.seen) >= sigCacheSize {
		clear(c.seen) // rare, and only costs re-verification
	}
	c.seen[k] = struct{}{}
	c.mu.Unlock()
	return nil
}
