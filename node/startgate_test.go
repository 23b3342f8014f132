package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/dhtnode/dhtnode/config"
)

// A node's host takes no connection, in or out, until the node opens its
// start gate, and then takes them as its own gater says.
func TestStartGateHoldsConnectionsUntilOpen(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	gate := &startGate{}
	gated := startHost(t, cfg, gate, nil)
	other := startHost(t, cfg, nil, nil)
	connect := func(from, to peer.AddrInfo) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := gated
		if from.ID == other.ID() {
			h = other
		}
		h.Peerstore().AddAddrs(to.ID, to.Addrs, time.Minute)
		return h.Connect(ctx, to)
	}
	gatedInfo := peer.AddrInfo{ID: gated.ID(), Addrs: gated.Addrs()}
	otherInfo := peer.AddrInfo{ID: other.ID(), Addrs: other.Addrs()}

	if err := connect(gatedInfo, otherInfo); err == nil {
		t.Fatal("the host dialled out before its gate opened")
	}
	if err := connect(otherInfo, gatedInfo); err == nil {
		t.Fatal("the host accepted a connection before its gate opened")
	}
	gate.open()
	if err := connect(gatedInfo, otherInfo); err != nil {
		t.Fatalf("dial after the gate opened: %v", err)
	}
}
