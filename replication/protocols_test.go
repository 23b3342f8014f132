package replication

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The replication protocols over the in-memory network (memnet_test.go):
// no libp2p, no timing, each step driven by the test.

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test after 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A plain put of a new key is one CREATE round, with no separate read; a
// put of a key that exists reads it from the CREATE answers and commits
// the next version in a second round of writes.
func TestMemCreateRound(t *testing.T) {
	net := newMemNet(t, 6, 3, nil)
	const key = "created"
	order := net.byDistance(key)
	writer := net.node(order[5]).m
	res, err := writer.Put(testCtx(t), key, []byte("v1"), WriteOptions{})
	if err != nil || res.Version != 1 || res.Acks < 2 || res.Replicas != 3 {
		t.Fatalf("put = %+v, %v; want version 1, at least 2 of 3 acks", res, err)
	}
	eventually(t, "version 1 on every holder", func() bool {
		return net.version(order[0], key) == 1 && net.version(order[1], key) == 1 && net.version(order[2], key) == 1
	})
	for _, h := range order[:3] {
		if c, r, w := net.count("create", h), net.count("read", h), net.count("write", h); c != 1 || r != 0 || w != 0 {
			t.Fatalf("a holder was sent %d creates, %d reads, %d writes; want one create", c, r, w)
		}
	}
	res, err = writer.Put(testCtx(t), key, []byte("v2"), WriteOptions{})
	if err != nil || res.Version != 2 {
		t.Fatalf("second put = %+v, %v; want version 2", res, err)
	}
	eventually(t, "version 2 on every holder", func() bool {
		return net.version(order[0], key) == 2 && net.version(order[1], key) == 2 && net.version(order[2], key) == 2
	})
	if r := net.count("read", order[0]) + net.count("read", order[1]) + net.count("read", order[2]); r != 0 {
		t.Fatalf("the second put read %d holders; the CREATE answers are the read", r)
	}
}

// A node whose routing table lacks a key's holders still reaches them: the
// peers it asks answer with referrals to nearer peers.
func TestMemReadsAndWritesFollowReferrals(t *testing.T) {
	const n, k = 10, 3
	net := newMemNet(t, n, k, nil)
	const key = "referred"
	order := net.byDistance(key)
	blind := net.node(order[n-1])
	blind.known = order[k : n-1] // none of the holders
	res, err := blind.m.Put(testCtx(t), key, []byte("v"), WriteOptions{})
	if err != nil || res.Version != 1 {
		t.Fatalf("put through a node blind to the holders = %+v, %v", res, err)
	}
	eventually(t, "the record on every holder", func() bool {
		return net.version(order[0], key) == 1 && net.version(order[1], key) == 1 && net.version(order[2], key) == 1
	})
	if net.count("create", order[k]) == 0 {
		t.Fatal("the put did not ask the peers it knew (the test checks nothing)")
	}
	rec, err := blind.m.Get(testCtx(t), key, k)
	if err != nil || string(rec.Value) != "v" {
		t.Fatalf("get at R = k through the blind node = %v, %v", rec, err)
	}
	for _, h := range order[:k] {
		if net.count("read", h) != 1 {
			t.Fatalf("holder asked %d times by the read, want once", net.count("read", h))
		}
	}
}

// A read whose nearest holder never answers asks one more holder after the
// hedge delay instead of waiting for the request to time out.
func TestMemReadHedgesAroundAStalledHolder(t *testing.T) {
	net := newMemNet(t, 5, 3, func(c *Config) { c.RPCTimeout = time.Minute })
	const key = "hedged"
	order := net.byDistance(key)
	for _, h := range order[:3] {
		net.store(h, key, "v", 1)
	}
	net.set(net.stalled, order[0], true)
	reader := net.node(order[4]).m
	rec, err := reader.Get(testCtx(t), key, 2) // would wait a minute for order[0] without hedging
	if err != nil || string(rec.Value) != "v" {
		t.Fatalf("get with the nearest holder stalled = %v, %v", rec, err)
	}
	if st := reader.Stats(); st.HedgedTotal != 1 || net.count("read", order[2]) != 1 {
		t.Fatalf("hedged %d reads, asked the third holder %d times; want 1 and 1", st.HedgedTotal, net.count("read", order[2]))
	}
}

// Once Close has begun, Replicas starts no fetch: every fetch it starts is
// one Close waits for.
func TestMemReplicasAfterClose(t *testing.T) {
	net := newMemNet(t, 4, 3, nil)
	const key = "closed"
	order := net.byDistance(key)
	m := net.node(order[3]).m
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	states, _, err := m.Replicas(testCtx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if !errors.Is(s.Err, errClosed) || net.count("fetch", s.Peer) != 0 {
			t.Fatalf("replicas after Close: %+v, %d fetches; want errClosed and none", s, net.count("fetch", s.Peer))
		}
	}
}
