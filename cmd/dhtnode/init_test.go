package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

func TestInitWritesConfigAndIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	res := dhtnode(t, "init", "--data-dir", dir)
	if res.code != exitOK {
		t.Fatalf("init: %+v", res)
	}
	id, err := peer.Decode(strings.TrimSpace(res.stdout))
	if err != nil {
		t.Fatalf("stdout %q is not a peer ID: %v", res.stdout, err)
	}

	assertMode(t, dir, 0o700)
	cfgPath, keyPath := filepath.Join(dir, configFile), filepath.Join(dir, node.IdentityFile)
	assertMode(t, cfgPath, 0o600)
	assertMode(t, keyPath, 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("load written config: %v", err)
	}
	if cfg.DataDir != dir {
		t.Errorf("config data_dir = %q, want %q", cfg.DataDir, dir)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := crypto.UnmarshalPrivateKey(data)
	if err != nil || priv.Type() != crypto.Ed25519 {
		t.Fatalf("identity.key: %v, type %v", err, priv.Type())
	}
	if keyID, _ := peer.IDFromPrivateKey(priv); keyID != id {
		t.Errorf("printed %s, key is %s", id, keyID)
	}

	// A second init keeps both files and prints the same peer ID.
	if err := os.WriteFile(cfgPath, []byte("network: mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again := dhtnode(t, "init", "--data-dir", dir)
	if again.code != exitOK || again.stdout != res.stdout {
		t.Fatalf("second init: %+v, want peer ID %q", again, res.stdout)
	}
	if got, _ := os.ReadFile(cfgPath); string(got) != "network: mine\n" {
		t.Errorf("second init rewrote config.yaml: %q", got)
	}
	if got, _ := os.ReadFile(keyPath); !bytes.Equal(got, data) {
		t.Error("second init rewrote identity.key")
	}
	if !strings.Contains(again.stderr, "kept existing") {
		t.Errorf("second init stderr %q does not say it kept the files", again.stderr)
	}
}

func TestInitDataDirFromEnvironment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "from-env")
	res := invocation{environ: []string{config.EnvName("data_dir") + "=" + dir}}.dhtnode(t, "init")
	if res.code != exitOK {
		t.Fatalf("init: %+v", res)
	}
	assertMode(t, filepath.Join(dir, node.IdentityFile), 0o600)
}

func TestInitCorruptIdentity(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, node.IdentityFile)
	if err := os.WriteFile(keyPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := dhtnode(t, "init", "--data-dir", dir)
	if res.code != exitFailed || !strings.Contains(res.stderr, "dhtnode: identity "+keyPath+" is corrupt") {
		t.Fatalf("init with a corrupt key: %+v", res)
	}
	if got, _ := os.ReadFile(keyPath); string(got) != "garbage" {
		t.Error("init replaced the corrupt key")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %o, want %o", path, got, want)
	}
}
