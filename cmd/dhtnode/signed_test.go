package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/internal/testnet"
)

// keygen, then put and del with --identity through a node that is not the
// key's owner: the records are signed here, the node only forwards them.
func TestSignedWritesThroughANode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node network")
	}
	c := testnet.New(t, 3, nil)
	keyFile := filepath.Join(t.TempDir(), "me.key")
	res := dhtnode(t, "keygen", "--out", keyFile)
	id := strings.TrimSpace(res.stdout)
	if res.code != exitOK || !strings.HasPrefix(id, "12D3KooW") {
		t.Fatalf("keygen: %+v", res)
	}
	if res := dhtnode(t, "keygen", "--out", keyFile); res.code != exitUsage || !strings.Contains(res.stderr, "exists") {
		t.Fatalf("keygen over an existing file: %+v", res)
	}
	key := "@" + id + "/profile"
	via := func(i int) []string { return []string{"--api", c.Node(i).APIURL()} }
	for v, value := range []string{"one", "two"} {
		args := append([]string{"put", "--identity", keyFile, key, value}, via(1)...)
		if res := dhtnode(t, args...); res.code != exitOK || !strings.HasPrefix(res.stdout, "version "+string(rune('1'+v))) {
			t.Fatalf("signed put %q: %+v", value, res)
		}
	}
	if res := dhtnode(t, append([]string{"get", key}, via(2)...)...); res.code != exitOK || res.stdout != "two" {
		t.Fatalf("get: %+v", res)
	}
	res = dhtnode(t, append([]string{"put", key, "as the node"}, via(1)...)...)
	if res.code != exitFailed || !strings.Contains(res.stderr, "forbidden") {
		t.Fatalf("put signed by the node: %+v", res)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	dhtnode(t, "keygen", "--out", other)
	if res := dhtnode(t, append([]string{"put", "--identity", other, key, "x"}, via(2)...)...); res.code != exitFailed || !strings.Contains(res.stderr, "forbidden") {
		t.Fatalf("put signed by another key: %+v", res)
	}
	if res := dhtnode(t, append([]string{"del", "--identity", keyFile, key}, via(0)...)...); res.code != exitOK || !strings.HasPrefix(res.stdout, "deleted, version 3") {
		t.Fatalf("signed del: %+v", res)
	}
	if res := dhtnode(t, append([]string{"put", "--identity", keyFile, key, "back"}, via(2)...)...); res.code != exitOK || !strings.HasPrefix(res.stdout, "version 4") {
		t.Fatalf("signed put after the delete: %+v", res)
	}
}
