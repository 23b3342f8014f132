package replication

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeSubscriber records what a holder delivers to it.
type fakeSubscriber struct {
	id peer.ID
	mu sync.Mutex
	// got maps keys to the versions delivered (0 = absent).
	got map[string][]uint64
}

func (f *fakeSubscriber) peerID() peer.ID { return f.id }

func (f *fakeSubscriber) deliver(key string, rec []byte) bool {
	v := uint64(0)
	if rec != nil {
		r, err := Unmarshal(key, rec)
		if err != nil {
			panic(err)
		}
		v = r.Version
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[key] = append(f.got[key], v)
	return true
}

func (f *fakeSubscriber) versions(key string) []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.got[key]...)
}

// A subscription answers with the holder's copy, every record stored after
// it is delivered, an unsubscribed key is not, and one peer may hold at most
// maxServedPerPeer subscriptions.
func TestHolderHubSubscriptions(t *testing.T) {
	store := newMemStore(t, NewValidator(1024))
	hub := newHolderHub(context.Background(), store)
	priv := newKey(t)
	put := func(key string, v uint64) {
		t.Helper()
		if _, err := store.Put(context.Background(), signed(t, priv, Record{Key: key, Value: []byte("x"), Version: v, WrittenAt: int64(v)})); err != nil {
			t.Fatal(err)
		}
	}
	a := &fakeSubscriber{id: "peer-a", got: map[string][]uint64{}}
	put("held", 1)
	if !hub.subscribe(a, "held") || !hub.subscribe(a, "new") {
		t.Fatal("subscriptions refused")
	}
	put("held", 2)
	put("new", 1)
	put("other", 1)
	if got := a.versions("held"); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("held: delivered %v, want the copy (1) then 2", got)
	}
	if got := a.versions("new"); fmt.Sprint(got) != "[0 1]" {
		t.Fatalf("new: delivered %v, want absent then 1", got)
	}
	hub.unsubscribe(a, "held")
	put("held", 3)
	if got := a.versions("held"); len(got) != 2 || hub.served() != 1 {
		t.Fatalf("after unsubscribing: delivered %v, %d served", got, hub.served())
	}
	b := &fakeSubscriber{id: "peer-b", got: map[string][]uint64{}}
	for i := range maxServedPerPeer {
		if !hub.subscribe(b, fmt.Sprintf("k%d", i)) {
			t.Fatalf("subscription %d refused", i)
		}
	}
	if hub.subscribe(b, "one-too-many") {
		t.Fatal("a subscription over the per-peer limit was accepted")
	}
	if !hub.subscribe(a, "another-peer") {
		t.Fatal("another peer's subscription was refused")
	}
}
