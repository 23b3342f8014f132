// Package testnet starts real dhtnode nodes in-process on 127.0.0.1 for
// multi-node tests: real libp2p hosts over TCP, real datastores in temporary
// directories and real HTTP APIs, with short timers.
package testnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/partition"
	"github.com/dhtnode/dhtnode/node"
)

// Cluster is a set of in-process nodes; node 0 is every other node's bootstrap peer.
type Cluster struct {
	t      testing.TB
	cfgs   []config.Config
	nodes  []*node.Node // nil while a node is down
	gaters []*partition.Gater
}

// Local returns the configuration of node i of a test cluster: loopback
// addresses on free ports, a data dir under dir, and short timers.
func Local(dir string, i int) config.Config {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, fmt.Sprintf("node-%d", i))
	cfg.Network = "test"
	cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Routing.ProbeInterval = 2 * time.Second
	cfg.Replication.RepairInterval = time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	return cfg
}

// setupTimeout bounds New's wait for a settled cluster. Generous: now and
// then (about one set-up in twenty, more under the race detector with
// packages tested in parallel) a pair of nodes learns of each other only at
// one of the early table refreshes, 30 or 60 s after start.
const setupTimeout = 90 * time.Second

// New starts n nodes and waits until every node is ready. configure, if not
// nil, adjusts each node's configuration before it starts.
func New(t testing.TB, n int, configure func(i int, cfg *config.Config)) *Cluster {
	t.Helper()
	c := &Cluster{t: t, cfgs: make([]config.Config, n), nodes: make([]*node.Node, n), gaters: make([]*partition.Gater, n)}
	dir := t.TempDir() // registered first, so removed after the nodes stop
	t.Cleanup(c.Close)
	for i := range n {
		cfg := Local(dir, i)
		if i > 0 {
			cfg.Bootstrap = []peer.AddrInfo{c.AddrInfo(0)}
		}
		if configure != nil {
			configure(i, &cfg)
		}
		c.cfgs[i] = cfg
		c.Start(i)
		if i == 0 {
			// Later restarts of node 0 keep its port, so its peers can find it again.
			c.cfgs[0].Listen = []ma.Multiaddr{ma.StringCast(c.nodes[0].ListenAddrs()[0]).Decapsulate(ma.StringCast("/p2p/" + c.nodes[0].PeerID().String()))}
		}
	}
	c.WaitFor(setupTimeout, "every node ready", func() bool {
		for _, nd := range c.nodes {
			if !nd.Ready() {
				return false
			}
		}
		return true
	})
	if bucket := c.cfgs[0].Routing.BucketSize; bucket < n-1 {
		// Tables cannot hold everyone: wait until each holds a bucket's worth.
		c.WaitFor(setupTimeout, "routing tables of a bucket's worth", func() bool {
			for _, nd := range c.nodes {
				if len(nd.RoutingTablePeers()) < bucket {
					return false
				}
			}
			return true
		})
	} else {
		c.WaitForFullTables(setupTimeout)
	}
	return c
}

// Logger returns the logger test nodes use: silent unless DHTNODE_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("DHTNODE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Len is the number of nodes, running or not.
func (c *Cluster) Len() int { return len(c.nodes) }

// Node returns node i, or nil while it is down.
func (c *Cluster) Node(i int) *node.Node { return c.nodes[i] }

// Config returns node i's configuration.
func (c *Cluster) Config(i int) config.Config { return c.cfgs[i] }

// Client returns an API client for node i.
func (c *Cluster) Client(i int) *node.Client {
	return node.NewClient(c.nodes[i].APIURL(), c.cfgs[i].API.Token)
}

// AddrInfo returns node i's peer ID and listen addresses.
func (c *Cluster) AddrInfo(i int) peer.AddrInfo {
	var addrs []ma.Multiaddr
	for _, s := range c.nodes[i].ListenAddrs() {
		addrs = append(addrs, ma.StringCast(s))
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil || len(infos) != 1 {
		c.t.Fatalf("node %d addresses %v: %v", i, addrs, err)
	}
	return infos[0]
}

// Start starts node i (again) with its configuration and data dir.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	if c.gaters[i] == nil {
		c.gaters[i] = partition.NewGater()
	}
	nd, err := node.New(c.cfgs[i], Logger().With("node", i), node.WithConnectionGater(c.gaters[i]))
	if err != nil {
		c.t.Fatalf("node %d: %v", i, err)
	}
	if err := nd.Start(context.Background()); err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	c.nodes[i] = nd
}

// Stop shuts node i down gracefully (it hands its records off).
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Logf("stop node %d: %v", i, err)
	}
	c.nodes[i] = nil
}

// Kill stops node i at once, as a crash would: no hand-off, no goodbye.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.nodes[i].Kill()
	c.nodes[i] = nil
}

// Partition cuts the running nodes in side from every other node: no
// connection between the two sides survives or can be made until Heal.
func (c *Cluster) Partition(side []int) {
	c.setCut(side, true)
}

// Heal undoes Partition.
func (c *Cluster) Heal(side []int) {
	c.setCut(side, false)
}

func (c *Cluster) setCut(side []int, cut bool) {
	inSide := make(map[int]bool, len(side))
	for _, i := range side {
		inSide[i] = true
	}
	for _, a := range c.Running() {
		for _, b := range c.Running() {
			if inSide[a] == inSide[b] {
				continue
			}
			c.gaters[a].Set(c.nodes[b].PeerID(), cut)
			if cut {
				_ = c.nodes[a].Host().Network().ClosePeer(c.nodes[b].PeerID())
			}
		}
	}
}

// Running returns the indexes of the nodes that are up.
func (c *Cluster) Running() []int {
	var out []int
	for i, nd := range c.nodes {
		if nd != nil {
			out = append(out, i)
		}
	}
	return out
}

// Close stops every running node.
func (c *Cluster) Close() {
	for i, nd := range c.nodes {
		if nd != nil {
			nd.Kill()
			c.nodes[i] = nil
		}
	}
}

// WaitForFullTables waits until every running node's routing table holds
// exactly the other running nodes. On timeout it names the tables that
// were not full.
func (c *Cluster) WaitForFullTables(timeout time.Duration) time.Duration {
	c.t.Helper()
	return c.waitFor(timeout, "full routing tables", func() (bool, string) {
		want := map[peer.ID]bool{}
		for _, i := range c.Running() {
			want[c.nodes[i].PeerID()] = true
		}
		var short []string
		for _, i := range c.Running() {
			peers := c.nodes[i].RoutingTablePeers()
			known := 0
			for _, p := range peers {
				if want[p] {
					known++
				}
			}
			if known != len(want)-1 || len(peers) != known {
				short = append(short, fmt.Sprintf("node %d: %d of %d peers (%d others)", i, known, len(want)-1, len(peers)-known))
			}
		}
		return len(short) == 0, strings.Join(short, "; ")
	})
}

// WaitFor polls cond every 50 ms until it holds, failing the test after timeout.
func (c *Cluster) WaitFor(timeout time.Duration, what string, cond func() bool) time.Duration {
	c.t.Helper()
	return c.waitFor(timeout, what, func() (bool, string) { return cond(), "" })
}

// WaitUntil polls check every 50 ms until it returns nil, failing the test
// after timeout with the last error it returned: what was still missing, or
// the API call that failed. A call that fails under load means "not yet"
// to a wait, not the end of the test.
func (c *Cluster) WaitUntil(timeout time.Duration, what string, check func() error) time.Duration {
	c.t.Helper()
	return c.waitFor(timeout, what, func() (bool, string) {
		if err := check(); err != nil {
			return false, "(last: " + err.Error() + ")"
		}
		return true, ""
	})
}

// waitFor is WaitFor with a condition that also says what is missing.
func (c *Cluster) waitFor(timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	c.t.Helper()
	start := time.Now()
	var missing string
	if !Eventually(timeout, func() (ok bool) { ok, missing = cond(); return ok }) {
		c.t.Fatalf("timed out after %v waiting for %s %s", timeout, what, missing)
	}
	return time.Since(start)
}

// Eventually polls cond every 50 ms and reports whether it held within timeout.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
