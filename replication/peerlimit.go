package replication

import (
	"errors"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// statusBusy answers a record request from a peer over its request rate
// (peerLimits): the request was not served, and the asker should count this
// holder as failed for it, not as misbehaving.
const statusBusy byte = 7

// errBusy is a holder's statusBusy answer.
var errBusy = errors.New("holder busy: over its request rate for this peer")

// Defaults of the per-peer request limit on the record protocol.
//
// The heaviest honest load one peer puts on another is a node writing for
// its clients into a network no bigger than k, where it sends every holder
// every write: at the 2,000 puts/s a node's API is meant to carry (issue
// 20), about 2,000 requests a second to each holder, plus repair pushes,
// themselves capped at repairPushRate (1,000/s). 5,000 a second with a
// burst of 10,000 is twice that, so a normal network does not reach it,
// while one peer cannot flood a node with more.
const (
	DefaultPeerRequestRate  = 5000
	DefaultPeerRequestBurst = 10000
	// peerLimitIdle is how long a peer's bucket is kept after its last
	// request; a returning peer then starts with a full burst again.
	peerLimitIdle = 5 * time.Minute
	// peerLimitPrune is how many buckets are kept before idle ones are
	// looked for.
	peerLimitPrune = 1024
)

// peerLimits is a token bucket per remote peer for record requests.
type peerLimits struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[peer.ID]*peerBucket
	pruneAt int // prune when the map grows to this size
}

type peerBucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newPeerLimits allows each peer perSecond requests a second with bursts of
// burst; a rate of 0 or less means no limit (nil).
func newPeerLimits(perSecond float64, burst int) *peerLimits {
	if perSecond <= 0 {
		return nil
	}
	return &peerLimits{rate: rate.Limit(perSecond), burst: max(burst, 1),
		buckets: make(map[peer.ID]*peerBucket), pruneAt: peerLimitPrune}
}

// allow reports whether p may make one more request now. A nil peerLimits
// allows everything.
func (l *peerLimits) allow(p peer.ID) bool {
	if l == nil {
		return true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[p]
	if b == nil {
		if len(l.buckets) >= l.pruneAt {
			l.prune(now)
		}
		b = &peerBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[p] = b
	}
	b.last = now
	return b.lim.AllowN(now, 1)
}

// prune drops the buckets of peers idle for peerLimitIdle, and sets the
// size at which to look again to twice what is left (at least
// peerLimitPrune), so that pruning costs O(1) per request amortised.
func (l *peerLimits) prune(now time.Time) {
	for p, b := range l.buckets {
		if now.Sub(b.last) > peerLimitIdle {
			delete(l.buckets, p)
		}
	}
	l.pruneAt = max(2*len(l.buckets), peerLimitPrune)
}
