package node_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

func writeSwarmKey(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "swarm.key")
	body := "/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(key) + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPrivateNetworkKeepsOutsidersOut(t *testing.T) {
	psk := writeSwarmKey(t)
	c := testnet.New(t, 2, func(_ int, cfg *config.Config) { cfg.Security.PSKFile = psk })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Client(0).Put(ctx, "secret", []byte("v"), node.PutOptions{}); err != nil {
		t.Fatalf("put inside the private network: %v", err)
	}

	// A libp2p host with the key connects to node 0; one without it cannot.
	for _, withKey := range []bool{true, false} {
		opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics()}
		if withKey {
			f, err := os.Open(psk)
			if err != nil {
				t.Fatal(err)
			}
			key, err := pnet.DecodeV1PSK(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			opts = append(opts, libp2p.PrivateNetwork(key), libp2p.Transport(tcp.NewTCPTransport))
		}
		h, err := libp2p.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Connect(ctx, c.AddrInfo(0))
		h.Close()
		if withKey && err != nil {
			t.Fatalf("a host with the key could not connect: %v", err)
		}
		if !withKey && err == nil {
			t.Fatal("a host without the key connected to a private network")
		}
	}
}
