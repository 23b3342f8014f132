package replication

import (
	"context"
	"testing"
	"time"
)

// A session's prefixes wait for a session over overlapping ones to end,
// not for one over other prefixes, not past the bound, and not for one
// whose initiator went idle.
func TestSyncClaimsServeOverlappingSessionsOneAtATime(t *testing.T) {
	ctx := context.Background()
	root := prefix{}
	left, right := root.extend(0, 1), root.extend(1, 1)
	leftLeft := left.extend(0, 1)
	var c syncClaims
	first, overran := c.claim(ctx, []prefix{right, leftLeft}, time.Minute)
	if overran {
		t.Fatal("the first claim waited")
	}
	// Other prefixes: at once.
	other, overran := c.claim(ctx, []prefix{left.extend(1, 1)}, time.Minute)
	if overran {
		t.Fatal("a claim of other prefixes waited")
	}
	c.release(other)
	// Overlapping (left holds leftLeft): waits until first ends.
	done := make(chan bool)
	go func() {
		cl, overran := c.claim(ctx, []prefix{left}, time.Minute)
		c.release(cl)
		done <- overran
	}()
	select {
	case <-done:
		t.Fatal("an overlapping claim did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	c.release(first)
	select {
	case overran := <-done:
		if overran {
			t.Fatal("the waiting claim overran though the first ended")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting claim was not woken when the first ended")
	}
	// A session that does not end delays an overlapping one by the bound.
	stuck, _ := c.claim(ctx, []prefix{root}, time.Minute)
	began := time.Now()
	late, overran := c.claim(ctx, []prefix{leftLeft.extend(3, 4)}, 20*time.Millisecond)
	if !overran || time.Since(began) < 20*time.Millisecond {
		t.Fatalf("a claim under a stuck session: overran %v after %v, want true after the bound", overran, time.Since(began))
	}
	c.release(late)
	// Nor by more once that session is idle (its initiator stalled).
	c.mu.Lock()
	stuck.active = time.Now().Add(-syncClaimIdle)
	c.mu.Unlock()
	began = time.Now()
	idle, overran := c.claim(ctx, []prefix{leftLeft}, time.Minute)
	if overran || time.Since(began) > 10*time.Second {
		t.Fatalf("a claim under an idle session: overran %v after %v, want at once", overran, time.Since(began))
	}
	c.release(idle)
	c.release(stuck)
	if len(c.held) != 0 || c.freed != nil {
		t.Fatalf("%d claims held, freed %v after all were released", len(c.held), c.freed)
	}
}

// A session whose request is being served is not idle, however long
// serving it takes (a starved node storing the records pushed to it): an
// overlapping session waits for it. Once answered, it is idle again
// syncClaimIdle after the answer.
func TestSyncClaimBeingServedIsNotIdle(t *testing.T) {
	ctx := context.Background()
	root := prefix{}
	var c syncClaims
	busy, _ := c.claim(ctx, []prefix{root}, time.Minute)
	c.touch(busy, true)
	c.mu.Lock()
	busy.active = time.Now().Add(-2 * syncClaimIdle) // the request came long ago
	c.mu.Unlock()
	late, overran := c.claim(ctx, []prefix{root.extend(1, 1)}, 20*time.Millisecond)
	if !overran {
		t.Fatal("a claim went ahead of a session whose request was being served")
	}
	c.release(late)
	c.touch(busy, false)
	c.mu.Lock()
	busy.active = time.Now().Add(-syncClaimIdle) // answered long ago
	c.mu.Unlock()
	began := time.Now()
	idle, overran := c.claim(ctx, []prefix{root.extend(0, 1)}, time.Minute)
	if overran || time.Since(began) > 10*time.Second {
		t.Fatalf("a claim under a session idle since its answer: overran %v after %v, want at once", overran, time.Since(began))
	}
	c.release(idle)
	c.release(busy)
	if overruns, idled, _ := c.counts(); overruns != 1 || idled != 1 {
		t.Fatalf("counted %d overruns and %d claims ahead of an idle session, want 1 and 1", overruns, idled)
	}
}

func TestOverlapSorted(t *testing.T) {
	root := prefix{}
	p := func(bits ...int) prefix {
		q := root
		for _, b := range bits {
			q = q.extend(b, 1)
		}
		return q
	}
	for _, tc := range []struct {
		a, b []prefix
		want bool
	}{
		{[]prefix{p(0, 0), p(1, 1)}, []prefix{p(0, 1), p(1, 0)}, false},
		{[]prefix{p(0, 0), p(1, 1)}, []prefix{p(0, 1), p(1, 1, 0)}, true},
		{[]prefix{p(1)}, []prefix{p(0, 0), p(0, 1, 1), p(1, 0, 0, 1)}, true},
		{[]prefix{root}, []prefix{p(0, 1, 0)}, true},
		{nil, []prefix{root}, false},
	} {
		if got := overlapSorted(coarsest(tc.a), coarsest(tc.b)); got != tc.want {
			t.Errorf("overlapSorted(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := overlapSorted(coarsest(tc.b), coarsest(tc.a)); got != tc.want {
			t.Errorf("overlapSorted(%v, %v) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}
