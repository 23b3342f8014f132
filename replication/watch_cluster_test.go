package replication_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/replication"
)

// watcher collects the events of one watch stream.
type watcher struct {
	events chan node.WatchEvent
	cancel context.CancelFunc
	done   chan error
}

func startWatch(t *testing.T, client *node.Client, key string, have *uint64) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{events: make(chan node.WatchEvent, 1024), cancel: cancel, done: make(chan error, 1)}
	go func() {
		w.done <- client.Watch(ctx, key, have, func(ev node.WatchEvent) error {
			w.events <- ev
			return nil
		})
	}()
	t.Cleanup(w.stop)
	return w
}

// stop ends the stream and waits for the client to return.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
	w.done <- context.Canceled // later stops return at once
}

func (w *watcher) next(t *testing.T, within time.Duration) node.WatchEvent {
	t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case err := <-w.done:
		w.done <- err
		t.Fatalf("watch ended: %v", err)
	case <-time.After(within):
		t.Fatalf("no watch event within %v", within)
	}
	return node.WatchEvent{}
}

// until returns the events up to and including the first that satisfies cond.
func (w *watcher) until(t *testing.T, within time.Duration, cond func(node.WatchEvent) bool) []node.WatchEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	var got []node.WatchEvent
	for {
		ev := w.next(t, time.Until(deadline))
		got = append(got, ev)
		if cond(ev) {
			return got
		}
	}
}

func describe(evs []node.WatchEvent) string {
	s := ""
	for _, ev := range evs {
		s += fmt.Sprintf(" %s:%d", ev.Event, ev.Version)
	}
	return s
}

// A watch on one node sees the key's state (absent), then every version a
// steady writer on another node writes, in order, then the delete.
func TestWatchDeliversEveryVersionInOrder(t *testing.T) {
	c := testnet.New(t, 5, nil)
	const key, writes = "presence", 30
	w := startWatch(t, c.Client(4), key, nil)
	if ev := w.next(t, 10*time.Second); ev.Event != node.WatchEventDeleted || ev.Version != 0 {
		t.Fatalf("first event %+v, want the key absent (deleted at version 0)", ev)
	}
	for i := 1; i <= writes; i++ {
		mustPut(t, c, i%3, key, fmt.Sprintf("v%d", i))
	}
	if _, err := c.Client(1).Delete(ctxT(t), key); err != nil {
		t.Fatal(err)
	}
	got := w.until(t, 20*time.Second, func(ev node.WatchEvent) bool { return ev.Event == node.WatchEventDeleted })
	if len(got) != writes+1 {
		t.Fatalf("events:%s; want versions 1..%d then the delete", describe(got), writes)
	}
	for i, ev := range got[:writes] {
		if ev.Event != node.WatchEventValue || ev.Version != uint64(i+1) || ev.Value == nil || string(*ev.Value) != fmt.Sprintf("v%d", i+1) {
			t.Fatalf("event %d is %+v; events:%s", i, ev, describe(got))
		}
	}
	if last := got[writes]; last.Version != writes+1 || last.WrittenAt == nil {
		t.Fatalf("delete event %+v", last)
	}
}

// A watch resumed with Last-Event-ID gets the current state only if it is
// newer than the version the client has; watches need the API token.
func TestWatchResumesWithLastEventID(t *testing.T) {
	c := testnet.New(t, 3, func(_ int, cfg *config.Config) { cfg.API.Token = "secret" })
	for i := 1; i <= 5; i++ {
		mustPut(t, c, 0, "cfg", fmt.Sprintf("v%d", i))
	}
	err := node.NewClient(c.Node(2).APIURL(), "").Watch(ctxT(t), "cfg", nil, func(node.WatchEvent) error { return nil })
	var apiErr *node.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("watch without the token: %v, want 401", err)
	}
	three := uint64(3)
	w := startWatch(t, c.Client(2), "cfg", &three)
	if ev := w.next(t, 10*time.Second); ev.Version != 5 || string(*ev.Value) != "v5" {
		t.Fatalf("resumed after version 3: first event %+v, want version 5", ev)
	}
	five := uint64(5)
	w2 := startWatch(t, c.Client(1), "cfg", &five)
	mustPut(t, c, 0, "cfg", "v6")
	if ev := w2.next(t, 10*time.Second); ev.Version != 6 {
		t.Fatalf("resumed at the current version: first event %+v, want the next write (6)", ev)
	}
	if ev := w.next(t, 10*time.Second); ev.Version != 6 {
		t.Fatalf("second event %+v, want version 6", ev)
	}
}

// Killing all but one of a key's holders while a writer keeps writing:
// the watch re-subscribes to the key's new holders and ends on the last
// acknowledged version; then the last original holder dies as well, and
// the watch still sees the next write, which only new holders report.
func TestWatchSurvivesTheDeathOfItsHolders(t *testing.T) {
	c := testnet.New(t, 8, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = 3
		cfg.Routing.BucketSize = 20
	})
	key := pickKey(t, c)
	mustPut(t, c, 0, key, "v1")
	holders, _ := mustHolderIndexes(t, c, 0, key)
	others := slices.DeleteFunc(slices.Clone(c.Running()), func(i int) bool { return slices.Contains(holders, i) })
	watcherNode, writerNode := others[0], others[1]
	w := startWatch(t, c.Client(watcherNode), key, nil)
	if ev := w.next(t, 10*time.Second); ev.Version != 1 {
		t.Fatalf("first event %+v, want version 1", ev)
	}
	var last uint64
	write := func(v int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if res, err := c.Client(writerNode).Put(ctx, key, []byte(fmt.Sprintf("v%d", v)), node.PutOptions{}); err == nil {
			last = res.Version
		}
	}
	for v := 2; v <= 5; v++ {
		write(v)
	}
	for _, h := range holders[:len(holders)-1] {
		c.Kill(h)
	}
	for v := 6; v <= 12; v++ {
		write(v)
	}
	testnet.Eventually(30*time.Second, func() bool { write(13); return last >= 13 })
	if last < 13 {
		t.Fatal("no write was acknowledged after the holders died")
	}
	got := w.until(t, 30*time.Second, func(ev node.WatchEvent) bool { return ev.Version == last })
	// Now the last original holder dies too: only holders the watch
	// subscribed to after the first deaths can report the next writes.
	survivor := holders[len(holders)-1]
	c.WaitUntil(30*time.Second, "the key on three live holders", func() error { return onHolders(c, writerNode, key, 3) })
	c.Kill(survivor)
	final := last + 1
	testnet.Eventually(30*time.Second, func() bool { write(int(final)); return last >= final })
	if last < final {
		t.Fatal("no write was acknowledged after the last original holder died")
	}
	got = append(got, w.until(t, 30*time.Second, func(ev node.WatchEvent) bool { return ev.Version == last })...)
	for i := 1; i < len(got); i++ {
		if got[i].Version <= got[i-1].Version {
			t.Fatalf("versions out of order:%s", describe(got))
		}
	}
}

// pickKey returns a key whose three holders include neither node 0 nor
// node 1, so both can write and watch it from outside.
func pickKey(t *testing.T, c *testnet.Cluster) string {
	t.Helper()
	for i := range 200 {
		key := fmt.Sprintf("watched-%d", i)
		rep, err := c.Client(0).Replicas(ctxT(t), key)
		if err != nil {
			t.Fatal(err)
		}
		outside := true
		for _, h := range rep.Holders {
			if h.PeerID == c.Node(0).PeerID().String() || h.PeerID == c.Node(1).PeerID().String() {
				outside = false
			}
		}
		if outside && len(rep.Holders) == 3 {
			return key
		}
	}
	t.Fatal("no key held by neither node 0 nor node 1")
	return ""
}

// Clients that go away leave no watch, no holder subscription and no
// subscription served behind (goroutines: TestMain's leak check).
func TestWatchesCleanUpAfterClientsLeave(t *testing.T) {
	c := testnet.New(t, 4, nil)
	mustPut(t, c, 0, "k0", "v")
	var ws []*watcher
	for i := range 20 {
		w := startWatch(t, c.Client(i%4), fmt.Sprintf("k%d", i%5), nil)
		w.next(t, 10*time.Second)
		ws = append(ws, w)
	}
	st, err := c.Client(0).Status(ctxT(t))
	if err != nil || st.Watches.Clients != 5 || st.Watches.Keys != 5 || st.Watches.Subscriptions == 0 {
		t.Fatalf("node 0 watches %+v, %v; want 5 clients of 5 keys with holder subscriptions", st.Watches, err)
	}
	for _, w := range ws {
		w.stop()
	}
	c.WaitFor(10*time.Second, "no watches left", func() bool {
		for i := range 4 {
			st, err := c.Client(i).Status(ctxT(t))
			if err != nil || st.Watches != (node.WatchesState{}) {
				return false
			}
		}
		return true
	})
}

// A value with a TTL is reported as expired when its expiry passes.
func TestWatchReportsExpiry(t *testing.T) {
	c := testnet.New(t, 3, nil)
	if _, err := c.Client(0).Put(ctxT(t), "ephemeral", []byte("soon gone"), node.PutOptions{TTL: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	w := startWatch(t, c.Client(2), "ephemeral", nil)
	if ev := w.next(t, 10*time.Second); ev.Event != node.WatchEventValue || ev.Version != 1 {
		t.Fatalf("first event %+v, want the value", ev)
	}
	if ev := w.next(t, 10*time.Second); ev.Event != node.WatchEventExpired || ev.Version != 1 || ev.Value != nil {
		t.Fatalf("second event %+v, want version 1 expired", ev)
	}
}

// A node that shuts down ends its watch streams at once instead of waiting
// out its shutdown timeout for them.
func TestWatchEndsWhenItsNodeStops(t *testing.T) {
	c := testnet.New(t, 3, func(_ int, cfg *config.Config) { cfg.ShutdownTimeout = 20 * time.Second })
	w := startWatch(t, c.Client(2), "k", nil)
	w.next(t, 10*time.Second)
	start := time.Now()
	c.Stop(2)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the node took %v to stop with a watch open", took)
	}
	select {
	case err := <-w.done:
		w.done <- err
		if !errors.Is(err, node.ErrWatchEnded) {
			t.Fatalf("watch ended with %v, want ErrWatchEnded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch stream did not end with its node")
	}
}

// A peer that joins as one of a watched key's holders gets the watch's
// subscription: the watching node re-subscribes when its routing table
// changes.
func TestWatchSubscribesToAHolderThatJoins(t *testing.T) {
	c := testnet.New(t, 8, func(_ int, cfg *config.Config) { cfg.Replication.Factor = 3 })
	var ids []peer.ID
	for _, i := range c.Running() {
		ids = append(ids, c.Node(i).PeerID())
	}
	joiner := c.Node(7).PeerID()
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("joined-%d", i)
		if kb.SortClosestPeers(ids, kb.ConvertKey(replication.DHTKey(k)))[0] == joiner {
			key = k
		}
	}
	c.Stop(7)
	c.WaitFor(30*time.Second, "node 0 to forget node 7", func() bool {
		return !slices.Contains(c.Node(0).RoutingTablePeers(), joiner)
	})
	w := startWatch(t, c.Client(0), key, nil)
	w.next(t, 10*time.Second)
	c.Start(7)
	c.WaitFor(30*time.Second, "node 7 to serve the watch's subscription", func() bool {
		st, err := c.Client(7).Status(ctxT(t))
		return err == nil && st.Watches.Served >= 1
	})
	mustPut(t, c, 1, key, "after the join")
	if ev := w.next(t, 10*time.Second); ev.Event != node.WatchEventValue || string(*ev.Value) != "after the join" {
		t.Fatalf("event %+v", ev)
	}
}
