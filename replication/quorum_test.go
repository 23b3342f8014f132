package replication

import (
	"errors"
	"testing"
)

// A node that restarts seeing only part of the network (the small side of a
// partition) keeps the majorities of the network it knew before, as its
// saved peers tell it: it refuses a default-quorum write instead of
// acknowledging it with a majority of what it sees.
func TestRememberedNetworkKeepsMajorities(t *testing.T) {
	net := newMemNet(t, 8, 8, nil)
	cut := net.node(net.order[0])
	cut.known = cut.known[:1] // it sees one peer: two holders in all

	if _, err := cut.m.Put(testCtx(t), "seen", []byte("v"), WriteOptions{}); err != nil {
		t.Fatalf("without a remembered network: %v; want a write acknowledged by 2 of the 2 holders it sees", err)
	}
	cut.m.RememberNetwork(8) // what a restart reads from the saved peers file
	_, err := cut.m.Put(testCtx(t), "remembered", []byte("v"), WriteOptions{})
	if !errors.Is(err, ErrInsufficientReplicas) {
		t.Fatalf("with a remembered network of 8: %v; want ErrInsufficientReplicas (5 of 8 needed, 2 found)", err)
	}
	if _, err := cut.m.Put(testCtx(t), "asked", []byte("v"), WriteOptions{W: 2}); err != nil {
		t.Fatalf("w=2 asked for less: %v", err)
	}
}
