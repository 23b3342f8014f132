package node_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

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
