package node_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// A client still sending a request when the node stops cannot use up the
// hand-off's budget: the API gets a bounded drain of its own, the records
// are handed off after it, and the log says how many.
func TestLeaveWithASlowClientHandsOff(t *testing.T) {
	const records = 20
	c := testnet.New(t, 2, nil)
	cfg := testnet.Local(t.TempDir(), 2)
	cfg.Bootstrap = []peer.AddrInfo{c.AddrInfo(0)}
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.API.ReadTimeout = time.Minute // the slow client is not cut off by the read timeout
	var logs logBuffer
	n, err := node.New(cfg, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(30*time.Second, "the third node joins", func() bool { return len(n.RoutingTablePeers()) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := node.NewClient(n.APIURL(), "")
	for i := range records {
		if _, err := client.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"), node.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	sent := slowBody(t, dialAPI(t, n))
	// Some body bytes sent: the server has the headers and reads the body.
	c.WaitFor(10*time.Second, "the slow request is in flight", func() bool { return sent.Load() >= 5 })

	start := time.Now()
	err = n.Close()
	closed = true
	took := time.Since(start)
	t.Logf("Close took %s; log:\n%s", took, logs.String())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`graceful leave: records handed off" records=(\d+) handed_off=(\d+)`).FindStringSubmatch(logs.String())
	if m == nil || m[1] != m[2] || m[1] == "0" {
		t.Fatalf("the hand-off did not hand every record over with a slow client connected:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "API requests still running") {
		t.Errorf("the cut-off slow request was not logged")
	}
}
