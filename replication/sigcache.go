package replication

import (
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/internal/edverify"
)

// sigCacheSize bounds the verified-signature cache (about 40 bytes an entry).
const sigCacheSize = 1 << 14

// writerKeysSize bounds the cache of writers' public keys (about 300 bytes
// an entry). The writers of a network are the nodes that take client writes
// and the owners of owned keys (owner.go).
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
	keys map[peer.ID]*writerCheck

	// bufs holds *[]byte buffers that verify builds signing bytes in: a
	// holder checks a signature for every record it stores, and building
	// them anew allocated a record's size each time.
	bufs sync.Pool
}

// maxPooledSigning is the largest signing buffer verify keeps for reuse;
// a larger record's is left to the garbage collector.
const maxPooledSigning = 64 << 10

func newSigCache() *sigCache {
	return &sigCache{seen: make(map[[sha256.Size]byte]struct{}), keys: make(map[peer.ID]*writerCheck)}
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
	w, err := c.writerCheck(r.Writer)
	if err != nil {
		return err
	}
	if err := w.verify(r, signed); err != nil {
		return err
	}
	c.add(k)
	return nil
}

// writerCheck checks one writer's signatures.
type writerCheck struct {
	// ed is an Ed25519 writer's key, decoded once (edverify accepts exactly
	// what crypto/ed25519 does); nil for another type of key, checked by pub.
	ed  *edverify.Key
	pub crypto.PubKey
}

func (w *writerCheck) verify(r *Record, signed []byte) error {
	if w.ed == nil {
		return r.verifyBy(w.pub, signed)
	}
	if !w.ed.Verify(signed, r.Signature) {
		return ErrBadSignature
	}
	return nil
}

// writerCheck returns w's key, decoded and remembered.
func (c *sigCache) writerCheck(w peer.ID) (*writerCheck, error) {
	c.mu.Lock()
	wc, ok := c.keys[w]
	c.mu.Unlock()
	if ok {
		return wc, nil
	}
	pub, err := writerKey(w)
	if err != nil {
		return nil, err
	}
	wc = &writerCheck{pub: pub}
	if pub.Type() == pb.KeyType_Ed25519 {
		raw, err := pub.Raw()
		if err == nil {
			wc.ed, err = edverify.NewKey(raw)
		}
		if err != nil { // crypto/ed25519 accepts no signature by such a key
			return nil, fmt.Errorf("%w: writer %q: %w", ErrBadSignature, w, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) >= writerKeysSize {
		clear(c.keys) // rare, and only costs decoding keys again
	}
	c.keys[w] = wc
	return wc, nil
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
