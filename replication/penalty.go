package replication

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A peer that gave penaltyStrikes bad answers (a record that fails
// validation, a malformed answer) within penaltyFor is left out of reads,
// writes and repair by this node until penaltyFor has passed since the
// last. An honest peer answers that way only if its max_value_size is
// larger than this node's or its clock is off by more than MaxClockSkew.
const (
	penaltyFor     = 10 * time.Minute
	penaltyStrikes = 3
)

// maxPenalized bounds the penalty box; it is cleared when full (a flood of
// fresh peer IDs cannot grow it without bound).
const maxPenalized = 4096

// penaltyBox is the Liveness the router sees: the routing manager's
// suspects plus the peers that misbehaved lately (bounded: maxPenalized).
type penaltyBox struct {
	inner Liveness // may be nil
	n     atomic.Int64
	mu    sync.Mutex
	until map[peer.ID]strikes
}

// strikes are a peer's recent bad answers.
type strikes struct {
	count int
	until time.Time // penaltyFor after the last
}

func newPenaltyBox(inner Liveness) *penaltyBox {
	return &penaltyBox{inner: inner, until: make(map[peer.ID]strikes)}
}

// IsSuspect implements Liveness.
func (b *penaltyBox) IsSuspect(p peer.ID) bool {
	if b.inner != nil && b.inner.IsSuspect(p) {
		return true
	}
	if b.n.Load() == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.until[p]
	if ok && time.Now().After(st.until) {
		delete(b.until, p)
		b.n.Store(int64(len(b.until)))
		return false
	}
	return ok && st.count >= penaltyStrikes
}

// Doubter is a Liveness that also tells the peers it has reason to think
// may be dead before it suspects them (routing.Manager: a peer whose last
// connection closed, until it answers a probe).
type Doubter interface {
	IsDoubted(p peer.ID) bool
}

// isDoubted reports whether the inner Liveness doubts p: IsDoubted if it
// is a Doubter, else IsSuspect. A penalized peer is not doubted.
func (b *penaltyBox) isDoubted(p peer.ID) bool {
	if d, ok := b.inner.(Doubter); ok {
		return d.IsDoubted(p)
	}
	return b.inner != nil && b.inner.IsSuspect(p)
}

// add counts a bad answer of p.
func (b *penaltyBox) add(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.until) >= maxPenalized {
		clear(b.until)
	}
	now := time.Now()
	st := b.until[p]
	if now.After(st.until) {
		st.count = 0
	}
	b.until[p] = strikes{count: st.count + 1, until: now.Add(penaltyFor)}
	b.n.Store(int64(len(b.until)))
}
