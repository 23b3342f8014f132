package replication

import (
	"slices"
	"testing"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func randomPeer(t testing.TB) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func randomPeers(t testing.TB, n int) []peer.ID {
	out := make([]peer.ID, n)
	for i := range out {
		out[i] = randomPeer(t)
	}
	return out
}

func sameAddrInfo(a, b peer.AddrInfo) bool {
	return a.ID == b.ID && slices.EqualFunc(a.Addrs, b.Addrs, ma.Multiaddr.Equal)
}

func TestReferralRoundTrip(t *testing.T) {
	want := []peer.AddrInfo{
		{ID: randomPeer(t), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001"), ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1")}},
		{ID: randomPeer(t)},
	}
	got, err := decodeReferral(encodeReferral(nil, want))
	if err != nil || len(got) != len(want) {
		t.Fatalf("decode = %v, %v", got, err)
	}
	for i := range want {
		if !sameAddrInfo(got[i], want[i]) {
			t.Fatalf("peer %d = %v, want %v", i, got[i], want[i])
		}
	}
	good := encodeReferral(nil, want)
	for name, bad := range map[string][]byte{
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(slices.Clone(good), 0),
		"too many peers": encodeReferral(nil, make([]peer.AddrInfo, maxReferralPeers+1)),
		"bad peer ID":    {1, 3, 'a', 'b', 'c', 0},
	} {
		if _, err := decodeReferral(bad); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}

// FuzzDecodeReferral checks that no input makes the decoder panic and that
// whatever it accepts encodes to bytes that decode to the same peers.
func FuzzDecodeReferral(f *testing.F) {
	f.Add(encodeReferral(nil, []peer.AddrInfo{{ID: randomPeer(f), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/1")}}}))
	f.Add([]byte{0})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		peers, err := decodeReferral(b)
		if err != nil {
			return
		}
		again, err := decodeReferral(encodeReferral(nil, peers))
		if err != nil || !slices.EqualFunc(again, peers, sameAddrInfo) {
			t.Fatalf("%x decodes to %v, which re-encoded decodes to %v, %v", b, peers, again, err)
		}
	})
}

func indexed(p peer.ID) indexedPeer { return indexedPeer{id: p, kid: kb.ConvertPeerID(p)} }

func TestCandidateSet(t *testing.T) {
	target := kb.ConvertKey("/dhtnode/key")
	all := kb.SortClosestPeers(randomPeers(t, 10), target) // all[0] is the nearest
	self := all[2]
	c := newCandidateSet(indexed(self), target, 3, []indexedPeer{indexed(all[1]), indexed(all[3]), indexed(all[4]), indexed(all[5])})
	if w := c.window(); !slices.Equal(w, []peer.ID{all[1], self, all[3]}) {
		t.Fatalf("window %v, want the 3 nearest of the table and self", w)
	}
	if p, _ := c.next(); p != self {
		t.Fatalf("first asked %v, want self (no round trip)", p)
	}
	if p, _ := c.next(); p != all[1] {
		t.Fatalf("second asked %v, want the nearest", p)
	}
	// all[3] is not a holder: it knows all[0], nearer than anyone here.
	c.refuse(all[3], []peer.ID{all[0], all[1]})
	if w := c.window(); !slices.Equal(w, []peer.ID{all[0], all[1], self}) {
		t.Fatalf("window after the referral %v, want all[0], all[1], self", w)
	}
	if p, _ := c.next(); p != all[0] {
		t.Fatalf("asked %v after the referral, want the peer it named", p)
	}
	if p, ok := c.next(); ok {
		t.Fatalf("asked %v with every window peer asked", p)
	}
	c.forgetAsked()
	var asked []peer.ID
	for p, ok := c.next(); ok; p, ok = c.next() {
		asked = append(asked, p)
	}
	if !slices.Equal(asked, []peer.ID{self, all[0], all[1]}) {
		t.Fatalf("a new round asked %v, want self, all[0], all[1]", asked)
	}
}

func TestCandidateSetBoundsTheAsked(t *testing.T) {
	target := kb.ConvertKey("/dhtnode/key")
	c := newCandidateSet(indexed(randomPeer(t)), target, 2, nil)
	asked := 0
	for range 100 { // every peer refers to two fresh ones
		p, ok := c.next()
		if !ok {
			break
		}
		asked++
		c.refuse(p, randomPeers(t, 2))
	}
	if asked != maxAskedFactor*2 {
		t.Fatalf("asked %d peers, want the bound %d", asked, maxAskedFactor*2)
	}
}
