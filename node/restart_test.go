package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// Records, the largest allowed among them (bigger than the store's
// memtable), survive a restart with and without fsync.
func TestRestartKeepsIdentityAndRecords(t *testing.T) {
	large := make([]byte, 1<<20) // the largest replication.max_value_size allowed
	if _, err := rand.Read(large); err != nil {
		t.Fatal(err)
	}
	for name, sync := range map[string]bool{"no fsync": false, "fsync": true} {
		t.Run(name, func(t *testing.T) {
			c := testnet.New(t, 2, func(_ int, cfg *config.Config) {
				cfg.Storage.Sync = sync
				cfg.Replication.MaxValueSize = len(large)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := c.Client(1).Put(ctx, "durable", []byte("yes"), node.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Client(1).Put(ctx, "large", large, node.PutOptions{}); err != nil {
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
			value, _, err = c.Client(1).Get(ctx, "large", 1)
			if err != nil || !bytes.Equal(value, large) {
				t.Fatalf("after restart: the %d-byte value came back as %d bytes, %v", len(large), len(value), err)
			}
		})
	}
}

// A data dir holding an earlier version's Pebble store is refused with an
// error that names it, and the store is left as it was.
func TestEarlierPebbleStoreIsRefused(t *testing.T) {
	cfg := testnet.Local(t.TempDir(), 0)
	current := filepath.Join(cfg.DataDir, "datastore", "CURRENT")
	if err := os.MkdirAll(filepath.Dir(current), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(current, []byte("MANIFEST-000001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, testnet.Logger())
	if err == nil {
		n.Close()
		t.Fatal("node started over a Pebble store")
	}
	if !strings.Contains(err.Error(), "Pebble store") || !strings.Contains(err.Error(), filepath.Dir(current)) {
		t.Fatalf("error does not explain the old store: %v", err)
	}
	if got, err := os.ReadFile(current); err != nil || string(got) != "MANIFEST-000001\n" {
		t.Fatalf("old store changed: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "leveldb")); !os.IsNotExist(err) {
		t.Fatalf("a new store was created next to the old one: %v", err)
	}
}
