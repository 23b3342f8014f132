package routing

import (
	"context"
	"crypto/rand"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/dhtnode/dhtnode/internal/leakcheck"
	"github.com/dhtnode/dhtnode/internal/partition"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// testNode is one host + DHT + Manager on 127.0.0.1.
type testNode struct {
	priv  crypto.PrivKey
	h     host.Host
	d     *dht.IpfsDHT
	m     *Manager
	gater *partition.Gater
	once  sync.Once
}

// newTestKey returns a fresh Ed25519 identity.
func newTestKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// fastConfig has the short timers used by the multi-node tests. Probes
// every second (500 ms timeout): at 300 ms, a loaded CI machine running the
// race detector timed out probes of live peers and evicted them.
func fastConfig() Config {
	return Config{ProbeInterval: time.Second, ProbeFailures: 2, MinPeers: 1, SaveInterval: 100 * time.Millisecond}
}

// setupTimeout bounds each step of a test's set-up (a dial, a node's table
// filling, a table refresh), which is not what the tests measure: on an
// idle machine each takes well under a second, but under the race detector
// on a starved machine (load 10-40, packages tested in parallel) dials to
// node 0 took more than 5 s, identify more than 5 s and a 13-node network's
// table refresh more than 10 s. A step that hangs still fails within it.
const setupTimeout = 30 * time.Second

// newTestNode starts a host and a server-mode DHT with identity priv (a
// fresh one when nil) and builds, but does not start, a Manager.
func newTestNode(t testing.TB, priv crypto.PrivKey, cfg Config) *testNode {
	t.Helper()
	if priv == nil {
		priv = newTestKey(t)
	}
	n := &testNode{priv: priv, gater: partition.NewGater()}
	h, err := libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.ConnectionGater(n.gater),
	)
	if err != nil {
		t.Fatal(err)
	}
	n.h = h
	n.d, err = dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix("/dhtnode/test"),
		dht.Datastore(dssync.MutexWrap(ds.NewMapDatastore())))
	if err != nil {
		_ = h.Close()
		t.Fatal(err)
	}
	n.m, err = New(h, n.d, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		n.close()
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	return n
}

// newTestNodes starts count nodes and their managers, joined through node
// 0: once node 0 knows everyone, every node refreshes its table from it.
// (Nodes that join at the same time can otherwise miss each other until
// the first early refresh.)
func newTestNodes(t testing.TB, count int, cfg Config) []*testNode {
	t.Helper()
	nodes := make([]*testNode, count)
	for i := range nodes {
		nodes[i] = newTestNode(t, nil, cfg)
		if i > 0 {
			connect(t, nodes[i], nodes[0])
		}
	}
	waitFor(t, setupTimeout, "node 0 to know every node", func() bool { return nodes[0].hasAll(nodes...) })
	for _, n := range nodes {
		select {
		case <-n.d.RefreshRoutingTable():
		case <-time.After(setupTimeout):
			t.Fatal("routing-table refresh timed out")
		}
	}
	// Probers start only now: on a loaded machine, the early probers' pings
	// slowed the later refreshes past their timeout.
	for _, n := range nodes {
		n.m.Start()
	}
	return nodes
}

// close stops the node as a crash would look to its peers: connections drop
// and the listener is gone.
func (n *testNode) close() {
	n.once.Do(func() {
		if n.m != nil {
			_ = n.m.Close()
		}
		_ = n.d.Close()
		_ = n.h.Close()
	})
}

func (n *testNode) id() peer.ID { return n.h.ID() }

func (n *testNode) addrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()}
}

func (n *testNode) has(p peer.ID) bool { return n.d.RoutingTable().Find(p) != "" }

// hasAll reports whether n's RT lists every one of ps.
func (n *testNode) hasAll(ps ...*testNode) bool {
	for _, p := range ps {
		if p != n && !n.has(p.id()) {
			return false
		}
	}
	return true
}

// hasAny reports whether n's RT lists any of ps.
func (n *testNode) hasAny(ps ...*testNode) bool {
	return slices.ContainsFunc(ps, func(p *testNode) bool { return n.has(p.id()) })
}

// connect dials b from a. The swarm bounds each dial of a loopback
// address by its own local dial timeout (5 s) whatever the context: a dial
// that a starved machine could not finish in time ("failed to negotiate
// security protocol: context deadline exceeded") is tried again, within
// setupTimeout.
func connect(t testing.TB, a, b *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	for {
		err := a.h.Connect(ctx, b.addrInfo())
		if err == nil {
			return
		}
		forgetDialFailures(a.h, b.id())
		if !sleep(ctx, 100*time.Millisecond) {
			t.Fatalf("connect: %v", err)
		}
	}
}

// waitFor polls cond every 10ms until it holds or timeout passes, and
// returns how long it took.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}
