package routing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestPeersFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	var want []peer.AddrInfo
	for range maxSavedPeers + 5 {
		id, err := peer.IDFromPrivateKey(newTestKey(t))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}})
	}
	if err := writePeers(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	got, err := loadPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxSavedPeers {
		t.Fatalf("loaded %d peers, want the cap %d", len(got), maxSavedPeers)
	}
	for i := range got {
		if got[i].ID != want[i].ID || !got[i].Addrs[0].Equal(want[i].Addrs[0]) {
			t.Fatalf("entry %d = %v, want %v", i, got[i], want[i])
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestPeersFileMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	got, err := loadPeers(filepath.Join(dir, "absent.json"))
	if err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte(`[{"peer_id": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPeers(corrupt); err == nil || !strings.Contains(err.Error(), corrupt) {
		t.Fatalf("corrupt file: err = %v, want a parse error naming the file", err)
	}
	bad := filepath.Join(dir, "bad-entries.json")
	if err := os.WriteFile(bad, []byte(`[{"peer_id":"nope","addrs":["/ip4/127.0.0.1/tcp/1"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := loadPeers(bad); err != nil || len(got) != 0 {
		t.Fatalf("bad entries: %v, %v; want them skipped", got, err)
	}
}

func TestNewIgnoresCorruptPeersFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig()
	cfg.PeersFile = path
	n := newTestNode(t, nil, cfg)
	if len(n.m.bootstrapCandidates()) != 0 {
		t.Fatal("corrupt file gave candidates")
	}
	n.close()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "not json" {
		t.Fatalf("an empty table overwrote the peers file: %q, %v", b, err)
	}
}
