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
