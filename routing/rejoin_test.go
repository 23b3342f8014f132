package routing

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func dueIDs(s *departedSet, now time.Time) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	for _, ai := range s.due(now) {
		out[ai.ID] = true
	}
	return out
}

func TestDepartedSchedule(t *testing.T) {
	addr := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}
	t0 := time.Unix(1000, 0)
	iv := time.Second
	s := newDepartedSet(10, iv)
	s.add("a", addr, t0)
	s.add("nope", nil, t0) // no address: cannot be dialled
	if s.len() != 1 {
		t.Fatalf("len = %d, want 1", s.len())
	}
	if got := dueIDs(s, t0.Add(iv/2)); len(got) != 0 {
		t.Fatalf("due before the first backoff: %v", got)
	}
	// Re-dials come after 1, 1, 2, 4, 8, 12, 12 ... intervals.
	at := t0
	for i, wait := range []time.Duration{1, 1, 2, 4, 8, 12, 12} {
		at = at.Add(wait * iv)
		if got := dueIDs(s, at.Add(-time.Millisecond)); got["a"] {
			t.Fatalf("dial %d came early", i)
		}
		if got := dueIDs(s, at); !got["a"] {
			t.Fatalf("dial %d not due at +%v", i, at.Sub(t0))
		}
	}
	if got := dueIDs(s, t0.Add(rememberFor+time.Second)); len(got) != 0 || s.len() != 0 {
		t.Fatalf("peer remembered past %v: %v", rememberFor, got)
	}
}

func TestDepartedLimitAndRemove(t *testing.T) {
	addr := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}
	t0 := time.Unix(1000, 0)
	s := newDepartedSet(2, time.Second)
	s.add("a", addr, t0)
	s.add("b", addr, t0.Add(time.Second))
	s.add("c", addr, t0.Add(2*time.Second)) // drops a, the oldest
	got := dueIDs(s, t0.Add(3*time.Minute))
	if got["a"] || !got["b"] || !got["c"] {
		t.Fatalf("due = %v, want b and c", got)
	}
	s.remove("b")
	if s.len() != 1 {
		t.Fatalf("len = %d after remove, want 1", s.len())
	}
	newAddr := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4002")}
	s.add("c", newAddr, t0.Add(4*time.Minute)) // known peer: new addresses, same schedule
	due := s.due(t0.Add(6 * time.Minute))
	if len(due) != 1 || due[0].ID != "c" || !due[0].Addrs[0].Equal(newAddr[0]) {
		t.Fatalf("due = %v, want c at %v", due, newAddr)
	}
}
