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
// It also remembers the records this node signed (signed), so that the
// writer's own copy of a write is stored without verifying the signature
// it has just made.
type sigCache struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]struct{}
}

func newSigCache() *sigCache { return &sigCache{seen: make(map[[sha256.Size]byte]struct{})} }

func sigCacheKey(signed, sig []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(signed)
	h.Write(sig)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// verify is r.Verify, skipped for a record verified before.
func (c *sigCache) verify(r *Record) error {
	if c == nil {
		return r.Verify()
	}
	signed := r.signingBytes()
	k := sigCacheKey(signed, r.Signature)
	c.mu.Lock()
	_, ok := c.seen[k]
	c.mu.Unlock()
	if ok {
		return nil
	}
	if err := r.verifySigned(signed); err != nil {
		return err
	}
	c.add(k)
	return nil
}

// signed remembers r, just signed by this node with its own key, as
// verified: a signature made here needs no check here.
func (c *sigCache) signed(r *Record) {
	if c != nil {
		c.add(sigCacheKey(r.signingBytes(), r.Signature))
	}
}

func (c *sigCache) add(k [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) >= sigCacheSize {
		clear(c.seen) // rare, and only costs re-verification
	}
	c.seen[k] = struct{}{}
}
