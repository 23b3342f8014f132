package replication

import (
	"crypto/sha256"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// sigCacheSize bounds the verified-signature cache (about 40 bytes an entry).
const sigCacheSize = 1 << 14

// writerKeysSize bounds the cache of writers' public keys (about 200 bytes
// an entry). The writers of a network are the nodes that take client writes.
const writerKeysSize = 1 << 10

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
	// keys are writers' public keys, so that a check does not decode the
	// key from the writer's peer ID each time.
	keys map[peer.ID]crypto.PubKey

	// bufs holds *[]byte buffers that verify builds signing bytes in: a
	// holder checks a signature for every record it stores, and building
	// them anew allocated a record's size each time.
	bufs sync.Pool
}

// maxPooledSigning is the largest signing buffer verify keeps for reuse;
// a larger record's is left to the garbage collector.
const maxPooledSigning = 64 << 10

func newSigCache() *sigCache {
	return &sigCache{seen: make(map[[sha256.Size]byte]struct{}), keys: make(map[peer.ID]crypto.PubKey)}
}

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
	bp, _ := c.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	signed := r.appendSigningBytes((*bp)[:0])
	defer func() {
		if cap(signed) <= maxPooledSigning {
			*bp = signed
			c.bufs.Put(bp)
		}
	}()
	k := sigCacheKey(signed, r.Signature)
	c.mu.Lock()
	_, ok := c.seen[k]
	c.mu.Unlock()
	if ok {
		return nil
	}
	pub, err := c.writerKey(r.Writer)
	if err != nil {
		return err
	}
	if err := r.verifyBy(pub, signed); err != nil {
		return err
	}
	c.add(k)
	return nil
}

// writerKey is writerKey(w), remembered.
func (c *sigCache) writerKey(w peer.ID) (crypto.PubKey, error) {
	c.mu.Lock()
	pub, ok := c.keys[w]
	c.mu.Unlock()
	if ok {
		return pub, nil
	}
	pub, err := writerKey(w)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= writerKeysSize {
		clear(c.keys) // rare, and only costs decoding keys again
	}
	c.keys[w] = pub
	return pub, nil
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
