package node_test

import (
	"context"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// Nodes that listen on QUIC only find each other and replicate over it.
func TestQUICOnlyNodesReplicate(t *testing.T) {
	c := testnet.New(t, 3, func(_ int, cfg *config.Config) {
		cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Client(0).Put(ctx, "over-quic", []byte("v"), node.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	value, _, err := c.Client(2).Get(ctx, "over-quic", 0)
	if err != nil || string(value) != "v" {
		t.Fatalf("get through node 2: %q, %v", value, err)
	}
	for i := range c.Len() {
		for _, conn := range c.Node(i).Host().Network().Conns() {
			if _, err := conn.RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1); err != nil {
				t.Errorf("node %d: connection over %s, want QUIC", i, conn.RemoteMultiaddr())
			}
		}
	}
}
