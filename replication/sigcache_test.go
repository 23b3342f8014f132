package replication

import (
	"errors"
	"strconv"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/internal/edverify"
)

// A record this node signed is taken as verified, and only that exact
// record: a copy with another signature is checked.
func TestSigCacheTrustsOnlyTheRecordSigned(t *testing.T) {
	c := newSigCache()
	r := signed(t, newKey(t), Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: 1})
	c.signed(r)
	if len(c.seen) != 1 {
		t.Fatalf("after signed: %d entries; want 1", len(c.seen))
	}
	if err := c.verify(r); err != nil || len(c.seen) != 1 {
		t.Fatalf("verify of the record signed = %v with %d entries; want nil from the cache", err, len(c.seen))
	}
	forged := *r
	forged.Signature = append([]byte(nil), r.Signature...)
	forged.Signature[0] ^= 1
	if err := c.verify(&forged); err == nil {
		t.Fatal("verify of a copy with another signature passed")
	}
}

// The cached writer keys check each record against its own writer's key: a
// record signed by one writer but naming another fails once the named
// writer's key is cached, and the cache survives being full.
func TestSigCacheWriterKeys(t *testing.T) {
	c := newSigCache()
	a, b := newKey(t), newKey(t)
	ra := signed(t, a, Record{Key: "k", Value: []byte("a"), Version: 1, WrittenAt: 1})
	if err := c.verify(ra); err != nil {
		t.Fatal(err)
	}
	impostor := signed(t, b, Record{Key: "k", Value: []byte("b"), Version: 2, WrittenAt: 2})
	impostor.Writer = ra.Writer
	if err := c.verify(impostor); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a record signed by another writer's key = %v, want ErrBadSignature", err)
	}
	for i := range writerKeysSize {
		c.keys[peer.ID(strconv.Itoa(i))] = nil
	}
	rb := signed(t, b, Record{Key: "k2", Value: []byte("b"), Version: 1, WrittenAt: 1})
	if err := c.verify(rb); err != nil || len(c.keys) != 1 {
		t.Fatalf("verify with a full key cache = %v, %d keys cached; want nil, 1", err, len(c.keys))
	}
}

// A writer whose peer ID embeds 32 bytes that are no point of the curve
// signs nothing valid, as with crypto/ed25519.
func TestSigCacheWriterKeyOffTheCurve(t *testing.T) {
	raw := make([]byte, 32)
	for {
		if _, err := edverify.NewKey(raw); err != nil {
			break
		}
		raw[0]++
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r := signed(t, newKey(t), Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: 1})
	r.Writer = id
	if err := newSigCache().verify(r); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("a record by a writer whose key is off the curve = %v, want ErrBadSignature", err)
	}
}

// BenchmarkSigCacheVerify checks the signatures of 1 KiB records not seen
// before, as a holder does for every record it stores.
func BenchmarkSigCacheVerify(b *testing.B) {
	c := newSigCache()
	priv := newKey(b)
	recs := make([]*Record, 1024)
	for i := range recs {
		recs[i] = signed(b, priv, Record{Key: "bench/" + strconv.Itoa(i), Value: make([]byte, 1024), Version: 1, WrittenAt: 1})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(recs) == 0 {
			clear(c.seen)
		}
		if err := c.verify(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}
