package replication

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The cadence of anti-entropy (partnerStates.due): a pair syncs when either
// side's digest of the shared prefixes changed since they last agreed, and
// otherwise every antiEntropyIdleRounds rounds, started by the lower peer ID.
func TestAntiEntropyCadence(t *testing.T) {
	self, lower, higher := peer.ID("b"), peer.ID("a"), peer.ID("c")
	ps := []prefix{prefixOf([]byte{0x40}, 2), prefixOf([]byte{0x80}, 1)}
	d := rangeDigest{sum: entryDigest{1}, count: 10}
	round := func(own rangeDigest, prefixes []prefix) partnerRound {
		return partnerRound{prefixes: prefixes, key: prefixesKey(prefixes), own: own}
	}
	var s partnerStates
	// due runs a round over both partners and returns who is due.
	due := func(lo, hi partnerRound) []peer.ID {
		lo.peer, hi.peer = lower, higher
		var out []peer.ID
		for _, pr := range s.due(self, []partnerRound{lo, hi}) {
			out = append(out, pr.peer)
		}
		return out
	}
	same := round(d, ps)
	// Nothing known: both are due (the higher partner's side has seen no
	// session with it).
	if got := due(same, same); !slices.Equal(got, []peer.ID{lower, higher}) {
		t.Fatalf("first round: %v due, want both", got)
	}
	s.ended(lower, true, same.key, d)
	s.ended(higher, true, same.key, d)
	// In sync and unchanged: only this node's session with the higher
	// peer, every antiEntropyIdleRounds rounds.
	for r := 1; r <= 2*antiEntropyIdleRounds; r++ {
		got := due(same, same)
		want := []peer.ID(nil)
		if r%antiEntropyIdleRounds == 0 {
			want = []peer.ID{higher}
			s.ended(higher, true, same.key, d)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("idle round %d: %v due, want %v", r, got, want)
		}
	}
	// This node's digest changed: both are due, the lower-ID partner
	// since no session with it took place since the last round.
	changed := round(rangeDigest{sum: entryDigest{2}, count: 11}, ps)
	if got := due(changed, changed); !slices.Equal(got, []peer.ID{lower, higher}) {
		t.Fatalf("after a change: %v due, want both", got)
	}
	// The lower-ID partner synced with this node meanwhile and they ended
	// unequal: this node leaves the next session to it for a round, then
	// starts one itself.
	s.ended(higher, true, changed.key, changed.own)
	s.ended(lower, false, changed.key, rangeDigest{})
	if got := due(changed, changed); len(got) != 0 {
		t.Fatalf("after a session from the lower peer: %v due, want none", got)
	}
	if got := due(changed, changed); !slices.Equal(got, []peer.ID{lower}) {
		t.Fatalf("a round later: %v due, want the lower peer", got)
	}
	s.ended(lower, true, changed.key, changed.own)
	// The shared prefixes changed (a routing change): due at once, with the
	// same digest.
	fewer := round(changed.own, ps[:1])
	if got := due(changed, fewer); !slices.Equal(got, []peer.ID{higher}) {
		t.Fatalf("other prefixes: %v due, want the higher peer", got)
	}
	// A partner no longer in the round is forgotten.
	s.due(self, []partnerRound{{peer: higher, key: changed.key, own: changed.own}})
	if _, ok := s.m[lower]; ok || len(s.m) != 1 {
		t.Fatalf("state of %d peers kept, want the one partner", len(s.m))
	}
}

// antiEntropyRound runs one anti-entropy round on every node of net and
// returns the sessions they started and their repair bytes.
func antiEntropyRound(ctx context.Context, net *memNet) (sessions int, bytes uint64) {
	for _, p := range net.order {
		sessions -= net.count("sync-by", p)
		bytes -= net.node(p).m.repairSent.Load()
	}
	for _, p := range net.order {
		m := net.node(p).m
		m.antiEntropy(ctx, regions(append(m.router.tablePeers(), m.self), m.cfg.Factor))
	}
	for _, p := range net.order {
		sessions += net.count("sync-by", p)
		bytes += net.node(p).m.repairSent.Load()
	}
	return sessions, bytes
}

// A network at rest syncs each pair of partners once every
// antiEntropyIdleRounds rounds, moving the same bytes at 1,000 and at 20,000
// keys; a write one holder missed is found within the rounds antientropy.go
// states.
func TestMemAntiEntropyAtRestAndAfterAMissedWrite(t *testing.T) {
	const n, k = 6, 3
	keyCounts := []int{1000, 20000}
	if testing.Short() {
		keyCounts = []int{1000, 5000}
	}
	ctx := longCtx(t)
	net := newMemNet(t, n, k, nil)
	priv := net.node(net.order[0]).priv
	at := time.Now().Add(-2 * time.Hour).UnixNano()
	put := func(key string, skip peer.ID) {
		r := signed(t, priv, Record{Key: key, Value: []byte("v"), Version: 1, WrittenAt: at})
		for _, h := range net.byDistance(key)[:k] {
			if h == skip {
				continue
			}
			if _, err := net.node(h).store.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	var idleBytes []uint64
	var first int
	stored := 0
	for _, keys := range keyCounts {
		for ; stored < keys; stored++ {
			put(fmt.Sprintf("key-%d", stored), "")
		}
		// The stores changed: each pair of partners syncs once.
		first, _ = antiEntropyRound(ctx, net)
		// Then each pair once in antiEntropyIdleRounds rounds (in the last
		// one, or the one before when the higher peer ID started the last
		// session before the lower one's round).
		var bytes uint64
		idle := 0
		for r := 1; r <= antiEntropyIdleRounds; r++ {
			sessions, b := antiEntropyRound(ctx, net)
			bytes += b
			idle += sessions
			if r < antiEntropyIdleRounds-1 && sessions != 0 {
				t.Fatalf("%d keys, idle round %d: %d sessions, want none", keys, r, sessions)
			}
		}
		t.Logf("%d keys: %d sessions in the first round, %d sessions and %d repair bytes sent over %d idle rounds", keys, first, idle, bytes, antiEntropyIdleRounds)
		if idle != first {
			t.Fatalf("%d keys: %d sessions over %d idle rounds, want one per pair (%d)", keys, idle, antiEntropyIdleRounds, first)
		}
		idleBytes = append(idleBytes, bytes)
	}
	// The same sessions, but that a range's record count may take one more
	// byte.
	if d := int(idleBytes[1]) - int(idleBytes[0]); idleBytes[0] == 0 || d < 0 || d > first {
		t.Fatalf("idle repair bytes %v at %v keys: want about the same, not 0", idleBytes, keyCounts)
	}

	// A write that the highest-ID holder missed: the other holders'
	// digests changed, and as lower IDs they sync in the next round. One
	// that the lowest-ID holder missed: the others sync as higher IDs, in
	// the next round unless a session of the pair took place since their
	// last one (the idle sessions just above may have), then in the one
	// after.
	for i, c := range []struct {
		pick   func([]peer.ID) peer.ID
		rounds int
	}{{slices.Max[[]peer.ID], 1}, {slices.Min[[]peer.ID], 2}} {
		key := fmt.Sprintf("late-%d", i)
		victim := c.pick(net.byDistance(key)[:k])
		put(key, victim)
		for range c.rounds {
			antiEntropyRound(ctx, net)
		}
		if net.version(victim, key) != 1 {
			t.Fatalf("%d rounds after the write, holder %s still misses %s", c.rounds, victim.ShortString(), key)
		}
	}
}
