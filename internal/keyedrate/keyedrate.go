// Package keyedrate is a token-bucket rate limit per key (a remote peer, a
// client IP address), whose buckets of keys gone quiet are forgotten.
package keyedrate

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of how long buckets are kept.
const (
	// IdleAfter is how long a key's bucket is kept after its last request;
	// a key that returns later starts with a full burst again.
	IdleAfter = 5 * time.Minute
	// pruneFloor is how many buckets are kept before idle ones are looked for.
	pruneFloor = 1024
)

// Limiter allows each key perSecond requests a second, in bursts of up to
// burst. A nil *Limiter allows everything. Safe for concurrent use.
type Limiter[K comparable] struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[K]*bucket
	pruneAt int // prune when the map grows to this size
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// New returns a limiter of perSecond requests a second per key with bursts
// of burst (at least 1); a rate of 0 or less means no limit: nil.
func New[K comparable](perSecond float64, burst int) *Limiter[K] {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter[K]{rate: rate.Limit(perSecond), burst: max(burst, 1),
		buckets: make(map[K]*bucket), pruneAt: pruneFloor}
}

// Allow reports whether key may make one more request now and, when not,
// how long until it may.
func (l *Limiter[K]) Allow(key K) (ok bool, retryAfter time.Duration) {
	return l.AllowN(key, 1)
}

// Burst is the most requests a key may make at once (0 for a nil Limiter:
// no limit).
func (l *Limiter[K]) Burst() int {
	if l == nil {
		return 0
	}
	return l.burst
}

// AllowN reports whether key may make n more requests now (all or none
// are taken) and, when not, how long until it may. n over Burst is never
// allowed: retryAfter is then rate.InfDuration.
func (l *Limiter[K]) AllowN(key K, n int) (ok bool, retryAfter time.Duration) {
	if l == nil || n <= 0 {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.pruneAt {
			l.prune(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, n)
	if !r.OK() {
		return false, rate.InfDuration
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Tracked returns how many keys have a bucket now.
func (l *Limiter[K]) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// prune drops the buckets of keys idle for IdleAfter and sets the size at
// which to look again to twice what is left (at least pruneFloor), so that
// pruning costs O(1) per request amortised.
func (l *Limiter[K]) prune(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) > IdleAfter {
			delete(l.buckets, k)
		}
	}
	l.pruneAt = max(2*len(l.buckets), pruneFloor)
}
