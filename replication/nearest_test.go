package replication

import (
	"fmt"
	"slices"
	"testing"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestNearestMatchesKbucketOrder(t *testing.T) {
	peers := randomPeers(t, 40)
	index := make([]indexedPeer, len(peers))
	for i, p := range peers {
		index[i] = indexedPeer{id: p, kid: kb.ConvertPeerID(p)}
	}
	skipped := map[peer.ID]bool{peers[3]: true, peers[17]: true}
	skip := func(p peer.ID) bool { return skipped[p] }
	for _, key := range []string{"/dhtnode/a", "/dhtnode/b", "/dhtnode/c"} {
		target := kb.ConvertKey(key)
		var want []peer.ID
		for _, p := range kb.SortClosestPeers(peers, target) {
			if !skipped[p] && len(want) < 11 {
				want = append(want, p)
			}
		}
		got := nearest(index, target, 11, skip)
		if !slices.Equal(ids(got), want) {
			t.Fatalf("%s: nearest = %v, want %v", key, ids(got), want)
		}
		// With more suspects near the target than the slack, the second pass.
		order := kb.SortClosestPeers(peers, target)
		many := map[peer.ID]bool{}
		for _, p := range order[:nearestSlack+2] {
			many[p] = true
		}
		got = nearest(index, target, 3, func(p peer.ID) bool { return many[p] })
		if want := order[nearestSlack+2 : nearestSlack+5]; !slices.Equal(ids(got), want) {
			t.Fatalf("%s: nearest past %d suspects = %v, want %v", key, nearestSlack+2, ids(got), want)
		}
	}
	if got := nearest(index[:2], kb.ConvertKey("/dhtnode/a"), 5, skip); len(got) != 2 {
		t.Fatalf("nearest 5 of 2 peers = %d peers", len(got))
	}
}

// BenchmarkNearest picks a key's k+3 nearest of 48 routing-table peers, as
// every client read and write and every repair pass does per key.
func BenchmarkNearest(b *testing.B) {
	peers := randomPeers(b, 48)
	index := make([]indexedPeer, len(peers))
	for i, p := range peers {
		index[i] = indexedPeer{id: p, kid: kb.ConvertPeerID(p)}
	}
	targets := make([]kb.ID, 64)
	for i := range targets {
		targets[i] = kb.ConvertKey(string(rune('a' + i)))
	}
	never := func(peer.ID) bool { return false }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		nearest(index, targets[i%len(targets)], 11, never)
	}
}

// A routing-table change drops the cached holder lists it can alter (the
// peer is in one, or nearer the key than its farthest peer, or the list is
// short) and keeps the others; an answer computed before the change is not
// stored.
func TestClosestCacheDropsOnlyWhatAChangeCanAlter(t *testing.T) {
	peers := randomPeers(t, 40)
	var c closestCache
	type entry struct {
		key    string
		target kb.ID
		list   []peer.ID
	}
	var entries []entry
	for i := range 20 {
		key := fmt.Sprintf("/dhtnode/k%d", i)
		target := kb.ConvertKey(key)
		list := kb.SortClosestPeers(peers[:30], target)[:8]
		c.put(key, 8, c.generation(), target, list)
		entries = append(entries, entry{key, target, list})
	}
	short := kb.SortClosestPeers(peers[:3], kb.ConvertKey("/dhtnode/short"))
	c.put("/dhtnode/short", 8, c.generation(), kb.ConvertKey("/dhtnode/short"), short)

	gen := c.generation()
	joined := peers[35] // not in any list
	c.invalidate(joined)
	kept := 0
	for _, e := range entries {
		farthest := kb.ConvertPeerID(e.list[len(e.list)-1])
		canAlter := closer(kb.ConvertPeerID(joined), farthest, e.target)
		got, ok := c.get(e.key, 8)
		if ok == canAlter {
			t.Fatalf("%s: cached after the join = %v, want %v", e.key, ok, !canAlter)
		}
		if ok {
			kept++
			if !slices.Equal(got, e.list) {
				t.Fatalf("%s: kept answer changed", e.key)
			}
		}
	}
	if _, ok := c.get("/dhtnode/short", 8); ok {
		t.Fatal("a list shorter than asked survived a change")
	}
	if kept == 0 {
		t.Fatal("the join dropped every answer")
	}

	left := entries[0].list[3]
	c.invalidate(left)
	for _, e := range entries {
		if _, ok := c.get(e.key, 8); ok && slices.Contains(e.list, left) {
			t.Fatalf("%s: still cached with a peer that left", e.key)
		}
	}

	c.put("/dhtnode/late", 8, gen, kb.ConvertKey("/dhtnode/late"), entries[0].list)
	if _, ok := c.get("/dhtnode/late", 8); ok {
		t.Fatal("an answer computed before two changes was stored")
	}
}
