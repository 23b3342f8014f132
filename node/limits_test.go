package node

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/dhtnode/dhtnode/config"
)

// peersFromOneIP is more than go-libp2p's own limit of 8 per address.
const peersFromOneIP = 12

// With the default limits, more than 8 peers from one address all connect.
// The listener limits loopback like any other address here (a node exempts
// it), so 127.0.0.1 stands for the one address of a NAT or a LAN host.
func TestManyPeersFromOneAddressConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 13 libp2p hosts")
	}
	if got := connectFromOneIP(t, config.Default().Limits); got != peersFromOneIP {
		t.Fatalf("%d of %d peers from 127.0.0.1 connected with the default limits", got, peersFromOneIP)
	}
}

// The same test fails with go-libp2p's own per-address limits, so it
// measures the limits and not something else.
func TestLibp2pPerAddressLimitsRefuseTheNinthPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 13 libp2p hosts")
	}
	got := connectFromOneIP(t, config.Limits{ConnsPerIP: 8, ConnRatePerIP: 12})
	if got > 8 {
		t.Fatalf("%d peers from one address connected with a limit of 8", got)
	}
}

// connectFromOneIP starts a listener with limits that apply to loopback,
// has peersFromOneIP hosts dial it at once and returns how many connected.
func connectFromOneIP(t *testing.T, limits config.Limits) int {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	cfg.Limits = limits
	server := startHost(t, cfg, nil, nil)
	target := peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}

	cfg.Limits = config.Default().Limits
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		connected int
	)
	for range peersFromOneIP {
		client := startHost(t, cfg, nil, loopback)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := client.Connect(ctx, target); err != nil {
				t.Logf("connect: %v", err)
				return
			}
			mu.Lock()
			connected++
			mu.Unlock()
		})
	}
	wg.Wait()
	// A refused connection may look established to the dialler for a
	// moment; count what the listener holds.
	inbound := 0
	for _, c := range server.Network().Conns() {
		if c.Stat().Direction == network.DirInbound {
			inbound++
		}
	}
	return min(connected, inbound)
}

// startHost starts a host as a node does (gater may be nil), closed when
// the test ends.
func startHost(t *testing.T, cfg config.Config, gater connmgr.ConnectionGater, unlimited []netip.Prefix) host.Host {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHost(cfg, priv, gater, unlimited)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}
