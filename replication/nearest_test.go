package replication

import (
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
