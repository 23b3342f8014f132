package keyedrate

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

func TestBurstThenRefusalWithRetryAfter(t *testing.T) {
	l := New[string](2, 3)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of a burst of 3 refused", i)
		}
	}
	ok, after := l.Allow("a")
	if ok || after <= 0 || after > time.Second {
		t.Fatalf("4th request: ok %v, retry after %v; want refused, within 1/2 s", ok, after)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key shares the first one's bucket")
	}
	if ok, after := (*Limiter[string])(nil).Allow("x"); !ok || after != 0 || New[string](0, 5) != nil {
		t.Fatal("no limit must allow everything")
	}
}

// Buckets of keys gone quiet are dropped once many keys were seen, so
// memory does not grow with every key ever served.
func TestIdleKeysAreForgotten(t *testing.T) {
	l := New[string](1, 1)
	old := time.Now().Add(-2 * IdleAfter)
	for i := range pruneFloor {
		l.buckets[fmt.Sprint(i)] = &bucket{last: old}
	}
	if ok, _ := l.Allow("new"); !ok {
		t.Fatal("first request of a new key refused")
	}
	if n := l.Tracked(); n != 1 {
		t.Fatalf("%d buckets after the prune, want 1", n)
	}
}

// AllowN takes n requests at once or none, and never more than the burst.
func TestAllowNTakesAllOrNothing(t *testing.T) {
	l := New[string](1, 10)
	if ok, _ := l.AllowN("a", 7); !ok {
		t.Fatal("7 of a burst of 10 refused")
	}
	if ok, after := l.AllowN("a", 4); ok || after <= 0 {
		t.Fatalf("4 more after 7 of 10: ok %v, retry after %v; want refused", ok, after)
	}
	if ok, _ := l.AllowN("a", 3); !ok {
		t.Fatal("the 3 left of the burst refused: a refused AllowN took tokens")
	}
	if ok, after := l.AllowN("b", 11); ok || after != rate.InfDuration {
		t.Fatalf("11 over a burst of 10: ok %v, retry after %v; want never", ok, after)
	}
	if l.Burst() != 10 || (*Limiter[string])(nil).Burst() != 0 {
		t.Fatal("Burst")
	}
}
