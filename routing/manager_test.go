package routing

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// eventLog collects a subscription's events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	done   chan struct{}
}

func collect(ch <-chan Event) *eventLog {
	l := &eventLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for ev := range ch {
			l.mu.Lock()
			l.events = append(l.events, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *eventLog) saw(kind EventKind, p peer.ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.events, Event{Kind: kind, Peer: p})
}

func TestSubscribeDropsAndClose(t *testing.T) {
	n := newTestNode(t, nil, fastConfig())
	ch, cancel := n.m.Subscribe(1)
	_, cancel2 := n.m.Subscribe(0)
	cancel2()
	cancel2() // twice is fine
	for _, p := range []peer.ID{"a", "b", "c"} {
		n.m.enqueue(Event{Kind: PeerAdded, Peer: p})
	}
	n.m.Start()
	waitFor(t, 5*time.Second, "fan-out of queued events", func() bool { return n.m.Stats().DroppedEvents == 2 })
	if ev := <-ch; ev != (Event{Kind: PeerAdded, Peer: "a"}) {
		t.Fatalf("got %+v, want the first event", ev)
	}
	if err := n.m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, open := <-ch; open {
		t.Fatal("subscriber channel still open after Close")
	}
	cancel()                                         // after Close: no double close
	n.m.enqueue(Event{Kind: PeerRemoved, Peer: "a"}) // a late RT callback does not panic
	if late, _ := n.m.Subscribe(1); late != nil {
		if _, open := <-late; open {
			t.Fatal("subscription after Close is open")
		}
	}
	if err := n.m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKilledPeersEvicted kills 3 of 8 nodes and measures how long the 5
// survivors take to drop them from their routing tables (SPEC §2).
func TestKilledPeersEvicted(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	nodes := newTestNodes(t, 8, fastConfig())
	logs := make([]*eventLog, len(nodes))
	for i, n := range nodes {
		ch, _ := n.m.Subscribe(64) // closed by Close
		logs[i] = collect(ch)
	}
	waitFor(t, 30*time.Second, "full routing tables", func() bool {
		return !slices.ContainsFunc(nodes, func(n *testNode) bool { return !n.hasAll(nodes...) })
	})
	// A peer that joins later is announced to subscribers.
	newcomer := newTestNode(t, nil, fastConfig())
	connect(t, newcomer, nodes[0])
	newcomer.m.Start()
	waitFor(t, 10*time.Second, "PeerAdded for a newcomer", func() bool { return logs[0].saw(PeerAdded, newcomer.id()) })
	newcomer.close()
	killed, survivors := nodes[5:], nodes[:5]
	start := time.Now()
	for _, n := range killed {
		n.close()
	}
	took := waitFor(t, 10*time.Second, "survivors to drop the killed peers", func() bool {
		return !slices.ContainsFunc(survivors, func(n *testNode) bool { return n.hasAny(killed...) })
	})
	t.Logf("detection: 3 of 8 killed, gone from all 5 survivors' RTs after %v (probe interval %v, %d failures)",
		took, fastConfig().ProbeInterval, fastConfig().ProbeFailures)
	for i, n := range survivors {
		if !n.hasAll(survivors...) {
			t.Errorf("survivor %d lost a live peer", i)
		}
	}
	waitFor(t, 5*time.Second, "PeerRemoved events for the killed peers", func() bool {
		return !slices.ContainsFunc(logs[:len(survivors)], func(l *eventLog) bool {
			return slices.ContainsFunc(killed, func(k *testNode) bool { return !l.saw(PeerRemoved, k.id()) })
		})
	})
	var ev, refills uint64
	for _, n := range survivors {
		ev += n.m.Stats().Evictions
		refills += n.m.Stats().Refills
	}
	if ev == 0 {
		t.Error("no evictions counted")
	}
	t.Logf("evictions %d, refill lookups %d, since kill %v", ev, refills, time.Since(start))
}

// TestRebootstrapFromConfiguredPeer: a node whose every RT peer died
// reconnects through its configured bootstrap peer.
func TestRebootstrapFromConfiguredPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	boot := newTestNode(t, nil, fastConfig()) // an island nobody else knows yet
	p1 := newTestNode(t, nil, fastConfig())
	p2 := newTestNode(t, nil, fastConfig())
	connect(t, p2, p1)
	cfg := fastConfig()
	cfg.Bootstrap = []peer.AddrInfo{boot.addrInfo()}
	x := newTestNode(t, nil, cfg)
	connect(t, x, p1)
	waitFor(t, 10*time.Second, "x to know p1 and p2", func() bool { return x.hasAll(p1, p2) })
	for _, n := range []*testNode{boot, p1, p2, x} {
		n.m.Start()
	}
	if x.has(boot.id()) {
		t.Fatal("x re-bootstrapped although its table was not short")
	}
	start := time.Now()
	p1.close()
	p2.close()
	waitFor(t, 10*time.Second, "x to drop its dead peers", func() bool { return !x.hasAny(p1, p2) })
	emptied := time.Since(start)
	waitFor(t, 10*time.Second, "x to re-bootstrap", func() bool { return x.has(boot.id()) })
	t.Logf("re-bootstrap: RT emptied after %v, bootstrap peer back in RT after %v (rebootstraps %d)",
		emptied, time.Since(start), x.m.Stats().Rebootstraps)
	if x.m.Stats().Rebootstraps == 0 {
		t.Fatal("no re-bootstrap counted")
	}
}

// TestRestartFromSavedPeers: a node restarted on the same identity while its
// bootstrap peer is down rejoins from the peers it saved.
func TestRestartFromSavedPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	boot := newTestNode(t, nil, fastConfig())
	p1 := newTestNode(t, nil, fastConfig())
	p2 := newTestNode(t, nil, fastConfig())
	connect(t, p1, boot)
	connect(t, p2, boot)
	cfg := fastConfig()
	cfg.Bootstrap = []peer.AddrInfo{boot.addrInfo()}
	cfg.PeersFile = filepath.Join(t.TempDir(), "peers.json")
	x := newTestNode(t, nil, cfg)
	for _, n := range []*testNode{boot, p1, p2, x} {
		n.m.Start()
	}
	waitFor(t, 10*time.Second, "x to join through the bootstrap peer", func() bool { return x.hasAll(boot, p1, p2) })
	waitFor(t, 5*time.Second, "x to save p1 and p2", func() bool {
		saved, _ := loadPeers(cfg.PeersFile)
		return slices.ContainsFunc(saved, func(ai peer.AddrInfo) bool { return ai.ID == p1.id() }) &&
			slices.ContainsFunc(saved, func(ai peer.AddrInfo) bool { return ai.ID == p2.id() })
	})
	boot.close()
	x.close()

	x2 := newTestNode(t, x.priv, cfg)
	if x2.id() != x.id() {
		t.Fatal("restart changed the peer ID")
	}
	x2.m.Start()
	took := waitFor(t, 10*time.Second, "restarted x to rejoin from saved peers", func() bool { return x2.hasAll(p1, p2) })
	t.Logf("restart with dead bootstrap: rejoined p1 and p2 from saved peers after %v", took)
}

// TestPartitionHeal splits 6 nodes 3+3 with connection gaters, waits until
// each side forgot the other, heals the split and waits until every table
// holds all 5 others again.
func TestPartitionHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	nodes := newTestNodes(t, 6, fastConfig())
	waitFor(t, 30*time.Second, "full routing tables", func() bool {
		return !slices.ContainsFunc(nodes, func(n *testNode) bool { return !n.hasAll(nodes...) })
	})
	sideA, sideB := nodes[:3], nodes[3:]
	setBlocked := func(blocked bool) {
		for _, a := range sideA {
			for _, b := range sideB {
				a.gater.Set(b.id(), blocked)
				b.gater.Set(a.id(), blocked)
				if blocked {
					_ = a.h.Network().ClosePeer(b.id())
					_ = b.h.Network().ClosePeer(a.id())
				}
			}
		}
	}
	setBlocked(true)
	split := waitFor(t, 15*time.Second, "each side to forget the other", func() bool {
		return !slices.ContainsFunc(sideA, func(n *testNode) bool { return n.hasAny(sideB...) }) &&
			!slices.ContainsFunc(sideB, func(n *testNode) bool { return n.hasAny(sideA...) })
	})
	for _, n := range nodes {
		side := sideA
		if slices.Contains(sideB, n) {
			side = sideB
		}
		if !n.hasAll(side...) {
			t.Fatal("a node lost a peer on its own side")
		}
	}
	setBlocked(false)
	healed := waitFor(t, 20*time.Second, "every table to hold all 5 others again", func() bool {
		return !slices.ContainsFunc(nodes, func(n *testNode) bool { return !n.hasAll(nodes...) })
	})
	t.Logf("partition: sides forgot each other after %v; after healing, full tables again after %v", split, healed)
}

// pairProbeInterval is the probe interval of probedPair's nodes.
const pairProbeInterval = 600 * time.Millisecond

// probesTimeout bounds the wait for a number of a peer's probes to have
// run (eight take about 5 s on an idle machine): on a starved machine
// (race detector, load 24) eight took over 15 s. A prober that stopped
// probing still fails it.
const probesTimeout = 30 * time.Second

// probedPair starts a node a and two peers it knows, x and y: a's probes
// of x answer xDelay after they start (counted in xProbes): a real ping
// whose answer is held back until then, or later if the ping itself takes
// longer. A probe whose deadline comes first returns only at xDelay, as on
// a node starved of CPU (it notices its deadline when it runs again).
// Those of y run probeY. failures is a's probe_failures. It returns the
// nodes, a's events and the count.
//
// The ping runs first and the wait is what remains of xDelay: a ping run
// after a sleep of xDelay had only the rest of the timeout, and on a
// machine starved of CPU (race detector, load 20-40) a real ping between
// two in-process nodes took longer than that, so the slow peer was
// evicted for the machine's slowness, not its own.
func probedPair(t *testing.T, failures int, xDelay time.Duration, probeY func(context.Context) (time.Duration, error)) (a, x, y *testNode, events *eventLog, xProbes *atomic.Int32) {
	t.Helper()
	cfg := fastConfig()
	cfg.ProbeInterval, cfg.ProbeFailures = pairProbeInterval, failures
	a, x, y = newTestNode(t, nil, cfg), newTestNode(t, nil, cfg), newTestNode(t, nil, cfg)
	connect(t, x, a)
	connect(t, y, a)
	waitFor(t, setupTimeout, "a to know both peers", func() bool { return a.hasAll(x, y) })
	xProbes = new(atomic.Int32)
	ping := a.m.probe
	a.m.probe = func(ctx context.Context, p peer.ID) (time.Duration, error) {
		switch p {
		case x.id():
			xProbes.Add(1)
			start := time.Now() // startProbe set the deadline just before, in this goroutine
			rtt, err := ping(ctx, p)
			if err == nil && !answerBy(ctx, start.Add(xDelay)) {
				err = ctx.Err()
			}
			if err != nil {
				sleep(a.m.ctx, xDelay-time.Since(start))
				return 0, err
			}
			return max(rtt, xDelay), nil
		case y.id():
			return probeY(ctx)
		}
		return ping(ctx, p)
	}
	ch, _ := a.m.Subscribe(64)
	events = collect(ch)
	for _, n := range []*testNode{a, x, y} {
		n.m.Start()
	}
	return a, x, y, events, xProbes
}

// answerBy waits until at, when an answer held back is due, and reports
// whether that is before ctx's deadline. A due answer counts even when
// this goroutine runs only after the deadline too (starved): it was there
// in time, as a real answer would wait in the connection's buffer.
func answerBy(ctx context.Context, at time.Time) bool {
	if d, ok := ctx.Deadline(); ok && !at.Before(d) {
		<-ctx.Done()
		return false
	}
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done(): // the deadline is after at; a cancel is no answer
		return errors.Is(ctx.Err(), context.DeadlineExceeded)
	}
}

// TestSlowPeerNotEvicted: a peer whose probe answers take most of the probe
// timeout stays in the table, while a peer whose probes fail is evicted.
func TestSlowPeerNotEvicted(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	delay := probeTimeout(pairProbeInterval) * 2 / 3
	// Three failures in a row evict, as in TestStarvedProberKeepsLivePeers:
	// the real ping inside the slow peer's probes must answer within the
	// timeout, and on a starved test machine (race detector, load 15-30)
	// it did not, twice in a row, in 1 of 15 runs. A prober that took slow
	// answers for failures still evicts the slow peer before its fourth probe.
	a, slow, broken, events, slowProbes := probedPair(t, 3, delay, func(context.Context) (time.Duration, error) {
		return 0, errors.New("injected probe failure")
	})
	evicted := waitFor(t, 5*time.Second, "the failing peer to be evicted", func() bool { return events.saw(PeerRemoved, broken.id()) })
	t.Logf("failing peer with a live connection (periodic probes only) evicted %v after Start", evicted)
	if a.m.Stats().Evictions == 0 {
		t.Fatal("the failing peer was removed, but not by the prober")
	}
	waitFor(t, probesTimeout, "four slow probes", func() bool { return slowProbes.Load() >= 4 })
	if events.saw(PeerRemoved, slow.id()) || !a.has(slow.id()) {
		t.Fatal("slow but alive peer was evicted")
	}
	h, ok := a.m.PeerHealth(slow.id())
	if !ok || h.RTT < delay || h.LastSeen.IsZero() {
		t.Fatalf("slow peer health = %+v, %v; want RTT >= %v", h, ok, delay)
	}
	t.Logf("slow peer (%v per answer, timeout %v) kept after %d probes; health %+v; stats %+v",
		delay, probeTimeout(pairProbeInterval), slowProbes.Load(), h, a.m.Stats())
}

// TestStarvedProberKeepsLivePeers: on a node starved of CPU every answer
// is read late, and so is every deadline; here every answer of a live
// peer comes 1.5 probe timeouts after the probe starts, and a probe that
// times out returns only then. Each such late timeout makes the node
// slower to give up (local health, liveness.go), so the re-probe waits for
// the answer and the peer stays; a peer that never answers (its probes
// time out on time) is still evicted, at the base timeout. Without the
// local health, both peers were evicted within three probes.
func TestStarvedProberKeepsLivePeers(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	delay := probeTimeout(pairProbeInterval) * 3 / 2
	// Three failures in a row evict (timeouts of 300, 600 and 900 ms as
	// the slowness rises): the test's own machine may be starved too.
	a, late, silent, events, lateProbes := probedPair(t, 3, delay, func(ctx context.Context) (time.Duration, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	evicted := waitFor(t, 15*time.Second, "the silent peer to be evicted", func() bool { return events.saw(PeerRemoved, silent.id()) })
	waitFor(t, probesTimeout, "eight probes of the late peer", func() bool { return lateProbes.Load() >= 8 })
	if events.saw(PeerRemoved, late.id()) || !a.has(late.id()) {
		t.Fatalf("a live peer whose answers came %v after a probe (timeout %v) was evicted", delay, probeTimeout(pairProbeInterval))
	}
	t.Logf("silent peer evicted after %v; late peer kept after %d probes; stats %+v", evicted, lateProbes.Load(), a.m.Stats())
}

// TestRejoinConnectedPeer: a peer that left the table while its connection
// stayed up (kad-dht drops a peer after a failed query without
// disconnecting) is re-added. kad-dht itself retries connected peers only
// while its table holds at most 10 peers, hence 13 nodes.
func TestRejoinConnectedPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	nodes := newTestNodes(t, 13, fastConfig())
	a, b := nodes[0], nodes[1]
	waitFor(t, 10*time.Second, "a to know everyone", func() bool { return a.hasAll(nodes...) })
	a.d.RoutingTable().RemovePeer(b.id())
	took := waitFor(t, 10*time.Second, "b back in a's table", func() bool { return a.has(b.id()) })
	t.Logf("connected peer dropped from the table re-added after %v", took)
}

// TestSuspectThatAnswersIsPublished: a peer that failed a probe (suspect:
// replication leaves it out) and answers the next one is published as
// PeerRecovered: its table entry did not change, and nothing else would
// tell replication to take it back.
func TestSuspectThatAnswersIsPublished(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	cfg := fastConfig()
	a := newTestNode(t, nil, cfg)
	b := newTestNode(t, nil, cfg)
	connect(t, b, a)
	waitFor(t, 10*time.Second, "a to know b", func() bool { return a.has(b.id()) })
	var failed atomic.Bool
	ping := a.m.probe
	a.m.probe = func(ctx context.Context, p peer.ID) (time.Duration, error) {
		if p == b.id() && failed.CompareAndSwap(false, true) {
			return 0, errors.New("injected probe failure")
		}
		return ping(ctx, p)
	}
	ch, _ := a.m.Subscribe(64)
	events := collect(ch)
	for _, n := range []*testNode{a, b} {
		n.m.Start()
	}
	took := waitFor(t, 10*time.Second, "b published as recovered", func() bool { return events.saw(PeerRecovered, b.id()) })
	if a.m.IsSuspect(b.id()) || !a.has(b.id()) {
		t.Fatal("b recovered, but is still suspect or left the table")
	}
	if st := a.m.Stats(); st.Suspicions == 0 || st.Recoveries == 0 {
		t.Fatalf("stats %+v: want the suspicion and the recovery counted", st)
	}
	t.Logf("b failed a probe and was published as recovered %v after Start", took)
}

// TestIsSuspectFollowsProbes: IsSuspect answers without a lock while no peer
// is suspect, so it must see every change of the failure detector.
func TestIsSuspectFollowsProbes(t *testing.T) {
	n := newTestNode(t, nil, fastConfig())
	a, b := peer.ID("peer-a"), peer.ID("peer-b")
	now := time.Now()
	for _, s := range []struct {
		name         string
		do           func()
		wantA, wantB bool
	}{
		{"nothing known", func() {}, false, false},
		{"a fails a probe", func() { n.m.observe(a, false, 0, now) }, true, false},
		{"b fails a probe", func() { n.m.observe(b, false, 0, now) }, true, true},
		{"a answers", func() { n.m.observe(a, true, time.Millisecond, now) }, false, true},
		{"b leaves the table", func() { n.m.forget(b) }, false, false},
	} {
		s.do()
		if gotA, gotB := n.m.IsSuspect(a), n.m.IsSuspect(b); gotA != s.wantA || gotB != s.wantB {
			t.Fatalf("after %q: suspect a=%v b=%v, want a=%v b=%v", s.name, gotA, gotB, s.wantA, s.wantB)
		}
	}
}

// TestIsDoubtedFollowsConnectionsProbesAndDepartures: a peer is doubted
// from its last connection's close or a failed probe until it answers or
// connects again, and for departedDoubt after it left the table (evicted:
// from the failure that evicts it, before the detector forgets it).
func TestIsDoubtedFollowsConnectionsProbesAndDepartures(t *testing.T) {
	cfg := fastConfig()
	n := newTestNode(t, nil, cfg)
	a, b := peer.ID("peer-a"), peer.ID("peer-b")
	n.m.h.Peerstore().AddAddr(b, ma.StringCast("/ip4/127.0.0.1/tcp/1"), time.Hour) // departed peers need an address
	now := time.Now()
	for _, s := range []struct {
		name         string
		do           func()
		wantA, wantB bool
	}{
		{"nothing known", func() {}, false, false},
		{"a's connections close", func() { n.m.connectedness(a, false) }, true, false},
		{"a connects again", func() { n.m.connectedness(a, true) }, false, false},
		{"a's connections close again", func() { n.m.connectedness(a, false) }, true, false},
		{"a answers a probe", func() { n.m.observe(a, true, time.Millisecond, now) }, false, false},
		{"b fails a probe", func() { n.m.observe(b, false, 0, now) }, false, true},
		{"b fails until evicted", func() {
			for i := 1; i < cfg.ProbeFailures; i++ {
				n.m.observe(b, false, 0, now)
			}
		}, false, true},
	} {
		s.do()
		if gotA, gotB := n.m.IsDoubted(a), n.m.IsDoubted(b); gotA != s.wantA || gotB != s.wantB {
			t.Fatalf("after %q: doubted a=%v b=%v, want a=%v b=%v", s.name, gotA, gotB, s.wantA, s.wantB)
		}
	}
	if n.m.IsSuspect(b) {
		t.Fatal("the evicted peer is still suspect")
	}
	if !n.m.departed.leftWithin(b, departedDoubt, now.Add(departedDoubt-time.Millisecond)) || n.m.departed.leftWithin(b, departedDoubt, now.Add(departedDoubt)) {
		t.Fatalf("the evicted peer is not doubted for exactly %v", departedDoubt)
	}
	n.m.departed.remove(b) // back in the table
	if n.m.IsDoubted(b) {
		t.Fatal("a peer back in the table is still doubted")
	}
}
