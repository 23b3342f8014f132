package routing

import (
	"testing"
	"time"
)

// Two nodes that joined through the same hub without meeting (their
// connection was cut while they joined) meet at an early refresh: nothing
// else introduces them before kad-dht's own refresh, ten minutes later.
func TestEarlyRefreshIntroducesPeersThatJoinedApart(t *testing.T) {
	cfg := fastConfig()
	cfg.earlyRefreshes = []time.Duration{500 * time.Millisecond}
	hub, b, c := newTestNode(t, nil, cfg), newTestNode(t, nil, cfg), newTestNode(t, nil, cfg)
	b.gater.Set(c.id(), true)
	c.gater.Set(b.id(), true)
	connect(t, b, hub)
	connect(t, c, hub)
	waitFor(t, 10*time.Second, "the hub to know both", func() bool { return hub.has(b.id()) && hub.has(c.id()) })
	for _, n := range []*testNode{b, c} { // the joining refreshes run (and fail to reach the other) while cut
		for range 2 {
			select {
			case <-n.d.RefreshRoutingTable():
			case <-time.After(10 * time.Second):
				t.Fatal("routing-table refresh timed out")
			}
		}
	}
	if b.has(c.id()) || c.has(b.id()) {
		t.Fatal("the nodes met while their connection was cut")
	}
	b.gater.Set(c.id(), false)
	c.gater.Set(b.id(), false)
	for _, n := range []*testNode{hub, b, c} {
		n.m.Start()
	}
	waitFor(t, 10*time.Second, "the nodes to meet", func() bool { return b.has(c.id()) && c.has(b.id()) })
	waitFor(t, 10*time.Second, "the early refreshes to be counted", func() bool {
		return b.m.Stats().Refreshes == 1 && c.m.Stats().Refreshes == 1
	})
}

func TestJitterStaysWithinBounds(t *testing.T) {
	for range 1000 {
		if d := jitter(10 * time.Second); d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jitter(10s) = %v, want 8s..12s", d)
		}
	}
}
