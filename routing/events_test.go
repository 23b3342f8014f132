package routing

import (
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
)

func newTestPeer(t *testing.T) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(newTestKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Peers that enter or leave the routing table while the callbacks are being
// chained are mirrored in the member set (so the prober probes them): the
// listing runs after the hooks are in place, and a removal is not undone by
// a listing taken before it.
func TestChainCallbacksMissesNoConcurrentChange(t *testing.T) {
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	rt, err := kb.NewRoutingTable(20, kb.ConvertPeerID(newTestPeer(t)), time.Minute, ps, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	add := func(p peer.ID) {
		if ok, err := rt.TryAddPeer(p, true, false); !ok || err != nil {
			t.Fatalf("adding %s: %v, %v", p, ok, err)
		}
	}
	before, leaving, joining := newTestPeer(t), newTestPeer(t), newTestPeer(t)
	add(before)
	add(leaving)
	var prevAdded []peer.ID
	rt.PeerAdded = func(p peer.ID) { prevAdded = append(prevAdded, p) }

	m := &Manager{rt: rt}
	m.chainCallbacks(func() []peer.ID {
		listed := rt.ListPeers()
		// Meanwhile, one peer joins and a listed one leaves.
		add(joining)
		rt.RemovePeer(leaving)
		return listed
	})
	for _, c := range []struct {
		p    peer.ID
		want bool
	}{{before, true}, {joining, true}, {leaving, false}} {
		if got := m.members.has(c.p); got != c.want {
			t.Errorf("member set has %s = %v, want %v", c.p.ShortString(), got, c.want)
		}
	}
	if len(prevAdded) != 1 || prevAdded[0] != joining {
		t.Errorf("kad-dht's own PeerAdded saw %v, want only the joining peer", prevAdded)
	}
}
