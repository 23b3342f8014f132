package node_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// A node whose ports are taken fails with an error that names the port, and
// leaves its data dir to the next start.
func TestBusyPortsFailCleanly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()

	cases := map[string]func(cfg *config.Config){
		"libp2p": func(cfg *config.Config) {
			cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + itoa(port))}
		},
		"api": func(cfg *config.Config) { cfg.API.Listen = busy.Addr().String() },
	}
	for name, configure := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := testnet.Local(dir, 0)
			configure(&cfg)
			n, err := node.New(cfg, testnet.Logger())
			if err == nil {
				n.Close()
				t.Fatal("node started on a port in use")
			}
			if !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), itoa(port)) {
				t.Fatalf("error does not say which port is busy: %v", err)
			}
		})
	}
	// The failed starts closed the datastore: the same data dir opens again.
	n, err := node.New(testnet.Local(dir, 0), testnet.Logger())
	if err != nil {
		t.Fatalf("data dir unusable after failed starts: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A second node on a TCP port a running node holds fails to start, naming
// the address, instead of sharing the port through SO_REUSEPORT; with TCP
// and QUIC on that port it does not start on QUIC alone either.
func TestSecondNodeOnATakenTCPPortFails(t *testing.T) {
	dir := t.TempDir()
	first := startNode(t, dir, 0, nil)
	addr := first.Host().Network().ListenAddresses()[0] // /ip4/127.0.0.1/tcp/P
	for name, listen := range map[string][]ma.Multiaddr{
		"tcp":          {addr},
		"tcp and quic": {addr, ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testnet.Local(dir, 1)
			cfg.Listen = listen
			n, err := node.New(cfg, testnet.Logger())
			if err == nil {
				n.Close()
				t.Fatalf("a second node started on %s", addr)
			}
			if !strings.Contains(err.Error(), addr.String()) || !strings.Contains(err.Error(), "taken by another process") {
				t.Fatalf("error does not name the taken address %s: %v", addr, err)
			}
		})
	}
	// The first node still has its port and serves.
	if got := first.Host().Network().ListenAddresses()[0]; !got.Equal(addr) {
		t.Fatalf("first node's address changed to %s", got)
	}
}
