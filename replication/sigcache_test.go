package replication

import "testing"

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
