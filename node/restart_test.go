package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

func TestRestartKeepsIdentityAndRecords(t *testing.T) {
	c := testnet.New(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Client(1).Put(ctx, "durable", []byte("yes"), node.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	id := c.Node(1).PeerID()
	c.Kill(0)
	c.Kill(1)
	c.Start(1) // alone: its only copy is the one on disk
	if got := c.Node(1).PeerID(); got != id {
		t.Fatalf("peer ID changed across a restart: %s -> %s", id, got)
	}
	value, version, err := c.Client(1).Get(ctx, "durable", 1)
	if err != nil || string(value) != "yes" || version != 1 {
		t.Fatalf("after restart: %q v%d, %v", value, version, err)
	}
}
