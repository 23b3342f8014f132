package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// startLone starts one node that knows no peer, with cfg adjusted by configure.
func startLone(t *testing.T, dir string, configure func(*config.Config)) *node.Node {
	t.Helper()
	cfg := testnet.Local(dir, 0)
	if configure != nil {
		configure(&cfg)
	}
	n, err := node.New(cfg, testnet.Logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// A node with an empty routing table cannot know a majority of any key's
// holders: default-quorum writes and reads are 503 and say why; a request
// that asks for one holder is served; one that asks for more holders than
// the node knows is 400 and writes nothing (issue 16, items 3 and 5).
func TestLoneNodeRefusesDefaultQuorums(t *testing.T) {
	n := startLone(t, t.TempDir(), nil)
	defer n.Close()
	base := n.APIURL()
	resp, body := do(t, base, call{name: "default put", method: http.MethodPut, path: "/v1/values/k", body: strings.NewReader("v")})
	if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("knows no other peer")) {
		t.Fatalf("default put on a lone node = %d %s, want 503 saying it knows no peer", resp.StatusCode, body)
	}
	check(t, base, []call{
		{name: "default get", method: http.MethodGet, path: "/v1/values/k", want: http.StatusServiceUnavailable, wantCode: node.CodeInsufficientReplicas},
		{name: "default delete", method: http.MethodDelete, path: "/v1/values/k", want: http.StatusServiceUnavailable, wantCode: node.CodeInsufficientReplicas},
		{name: "w above the holders found", method: http.MethodPut, path: "/v1/values/k?w=2", body: strings.NewReader("v"), want: http.StatusBadRequest, wantCode: node.CodeBadRequest},
		{name: "delete w above k", method: http.MethodDelete, path: "/v1/values/k?w=100", want: http.StatusBadRequest, wantCode: node.CodeBadRequest},
		{name: "r above the holders found", method: http.MethodGet, path: "/v1/values/k?r=2", want: http.StatusBadRequest, wantCode: node.CodeBadRequest},
		{name: "nothing was written", method: http.MethodGet, path: "/v1/values/k?r=1", want: http.StatusNotFound},
		{name: "w=1 asks for less", method: http.MethodPut, path: "/v1/values/k?w=1", body: strings.NewReader("v"), want: http.StatusOK},
		{name: "r=1 reads it", method: http.MethodGet, path: "/v1/values/k?r=1", want: http.StatusOK},
	})
}

// A quorum larger than the holders is refused before anything is written,
// for PUT and DELETE alike (issue 16, item 5: w=6 on 5 nodes was stored
// everywhere and answered 503; DELETE ?w=100 wrote its tombstone).
func TestUnreachableQuorumWritesNothing(t *testing.T) {
	c := testnet.New(t, 5, nil)
	base := c.Node(0).APIURL()
	check(t, base, []call{
		{name: "put", method: http.MethodPut, path: "/v1/values/kept?w=3", body: strings.NewReader("v1"), want: http.StatusOK},
		{name: "w above the holders", method: http.MethodPut, path: "/v1/values/kept?w=6", body: strings.NewReader("v2"), want: http.StatusBadRequest, wantCode: node.CodeBadRequest},
		{name: "delete w above k", method: http.MethodDelete, path: "/v1/values/kept?w=100", want: http.StatusBadRequest, wantCode: node.CodeBadRequest},
		{name: "delete w above the holders", method: http.MethodDelete, path: "/v1/values/kept?w=6", want: http.StatusBadRequest, wantCode: node.CodeBadRequest},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := c.Client(1).Replicas(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range rep.Holders {
		if h.Version > 1 {
			t.Fatalf("holder %s has version %d after refused writes: %+v", h.PeerID, h.Version, rep)
		}
	}
	if got, version, err := c.Client(2).Get(ctx, "kept", 5); err != nil || string(got) != "v1" || version != 1 {
		t.Fatalf("read at r=5 after refused writes = %q v%d, %v; want v1 v1", got, version, err)
	}
}

// A write that fails after some holders stored it says so, and is counted.
// Node 2 refuses the value (its max_value_size is smaller), so a write
// needing all three holders is stored by two and fails.
func TestPartialWriteIsReportedAndCounted(t *testing.T) {
	c := testnet.New(t, 3, func(i int, cfg *config.Config) {
		if i == 2 {
			cfg.Replication.MaxValueSize = 8
		}
	})
	value := strings.Repeat("v", 64)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Client(0).Put(ctx, "half", []byte(value), node.PutOptions{W: 3})
	if err == nil || !strings.Contains(err.Error(), "partially applied: 2 holders stored it") {
		t.Fatalf("w=3 with one holder refusing: %v, want a partially applied 503", err)
	}
	resp, body := do(t, c.Node(0).APIURL(), call{name: "partial write body", method: http.MethodPut, path: "/v1/values/half2?w=3", body: strings.NewReader(value)})
	var e node.ErrorResponse
	if err := json.Unmarshal(body, &e); resp.StatusCode != http.StatusServiceUnavailable || err != nil || e.Acks == nil || e.Needed == nil || *e.Needed != 3 || *e.Acks != 2 {
		t.Errorf("w=3 with one holder refusing: %d %s, want 503 with acks 2 and needed 3", resp.StatusCode, body)
	}
	st, err := c.Client(0).Status(ctx)
	if err != nil || st.Replication.PartialWritesTotal != 2 {
		t.Fatalf("partial_writes_total = %d (%v), want 2", st.Replication.PartialWritesTotal, err)
	}
}

// A node restarted with a smaller max_value_size than a record it stores
// starts, repairs and leaves without a panic (issue 16, item 6: the repair
// pass pushed a nil winner into Store.Put).
func TestSmallerMaxValueSizeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	n := startLone(t, dir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := node.NewClient(n.APIURL(), "")
	if _, err := client.Put(ctx, "big", bytes.Repeat([]byte("x"), 4096), node.PutOptions{W: 1}); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startLone(t, dir, func(cfg *config.Config) { cfg.Replication.MaxValueSize = 1024 })
	client = node.NewClient(n.APIURL(), "")
	// The first repair pass runs at once, and walks the store (repair.go).
	if !testnet.Eventually(20*time.Second, func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.Replication.LastSweep != nil
	}) {
		t.Fatal("no repair sweep")
	}
	if _, _, err := client.Get(ctx, "big", 1); err == nil {
		t.Fatal("a record over max_value_size was served")
	}
	if err := n.Close(); err != nil {
		t.Fatalf("leave: %v", err)
	}
}
