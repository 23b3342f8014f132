package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

func TestLoadOrCreateIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), node.IdentityFile)
	first, err := node.LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if first.Type() != crypto.Ed25519 {
		t.Errorf("key type %v, want Ed25519", first.Type())
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, mode %o, want 0600", err, info.Mode().Perm())
	}
	again, err := node.LoadOrCreateIdentity(path)
	if err != nil || !first.Equals(again) {
		t.Fatalf("second load: %v, same key %v", err, err == nil && first.Equals(again))
	}
}

func TestLoadOrCreateIdentityCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), node.IdentityFile)
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := node.LoadOrCreateIdentity(path)
	if err == nil || !strings.Contains(err.Error(), path+" is corrupt") {
		t.Fatalf("err = %v, want one saying %s is corrupt", err, path)
	}
	if data, _ := os.ReadFile(path); string(data) != "not a key" {
		t.Error("the corrupt file was replaced")
	}
}

func TestLoadOrCreateIdentityMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", node.IdentityFile)
	if _, err := node.LoadOrCreateIdentity(path); err == nil || !strings.Contains(err.Error(), "write identity") {
		t.Fatalf("err = %v, want a write error", err)
	}
}

// A node given identity_file (a key made ahead, mounted read-only like a
// Kubernetes Secret) runs under that key's peer ID, ephemeral or not, and
// writes no identity of its own.
func TestIdentityFileSetsThePeerID(t *testing.T) {
	secret := t.TempDir()
	keyPath := filepath.Join(secret, "identity.key")
	priv, err := node.CreateIdentity(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, ephemeral := range []bool{false, true} {
		cfg := testnet.Local(t.TempDir(), 0)
		cfg.IdentityFile, cfg.Ephemeral = keyPath, ephemeral
		n, err := node.New(cfg, testnet.Logger())
		if err != nil {
			t.Fatal(err)
		}
		got := n.PeerID()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("ephemeral %v: peer ID %s, want the key file's %s", ephemeral, got, want)
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, node.IdentityFile)); !os.IsNotExist(err) {
			t.Errorf("ephemeral %v: wrote an identity into the data dir (%v)", ephemeral, err)
		}
	}
}

// LoadIdentity never creates the file it is asked for.
func TestLoadIdentityMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.key")
	if _, err := node.LoadIdentity(path); err == nil || !strings.Contains(err.Error(), "read identity") {
		t.Fatalf("err = %v, want a read error", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("LoadIdentity created %s", path)
	}
}

// CreateIdentity refuses to overwrite a key.
func TestCreateIdentityKeepsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.key")
	first, err := node.CreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.CreateIdentity(path); err == nil {
		t.Fatal("a second CreateIdentity overwrote the key")
	}
	again, err := node.LoadIdentity(path)
	if err != nil || !again.Equals(first) {
		t.Fatalf("key changed or unreadable: %v", err)
	}
}
