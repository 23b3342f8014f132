package replication

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"time"
)

// Sessions over overlapping prefixes, served one at a time (issue 20).
//
// After holders die, the two responsible survivors of a piece (plan.go,
// responsibleRanks) both sync its new holder, often at about the same
// time. A session descends from its prefixes' digests to the entries of
// the ranges that differ, and only then pushes: when both sessions
// descend before either has pushed, both find the holder empty and both
// push every record (1.15-1.56 records moved per lost copy). So a node
// serves a session's prefixes (those of the groups of its first request:
// all of them but in a session of more than syncMaxPrefixes) only while no
// other session it serves holds an overlapping prefix: the first request
// of a later session waits until the earlier session ends, and its digests
// then count what the earlier one pushed; it moves only what still
// differs.
//
// The wait is bounded (syncClaimWait): past it the session proceeds
// alongside the other, as before, so a stuck or hostile initiator, which
// may hold a session open up to syncIdleTimeout, delays others by the bound
// at most, and two sessions never wait on each other (a waiting session
// holds no claim). Only the responder waits: the initiator sees a slower
// first round, well within its round timeout (4 × RPCTimeout).

// syncClaimWait bounds the wait of a session's first request for the
// sessions over overlapping prefixes to end: 2 × RPCTimeout (of the
// initiator's 4 × RPCTimeout round timeout), and half the idle timeout
// within which the answer must be written.
func syncClaimWait(rpcTimeout time.Duration) time.Duration {
	return min(2*rpcTimeout, syncIdleTimeout/2)
}

// syncClaimIdle: a session whose initiator has sent no request for this
// long since its last answer holds no other session up (its claim stays,
// but is not waited for): a stalled or partitioned initiator's session,
// which its responder keeps open for syncIdleTimeout, delays the others by
// syncClaimIdle, not by the wait's bound (syncClaimWait, 10 s by default).
// It is the default RPC timeout: between two requests an initiator does
// more than store the last answer's records: after the first answer it
// walks its records of every range that differs, all of a range the peer
// lacks (TestMemWaveAtOnceMovesEachRecordOnce logs the longest wait: 0.5 s
// for 4,000 keys without the race detector on a loaded machine, 0.95-2.4 s
// for 800 with it, at load 13-20). At 2 s the walk outlasted it, a second
// session over the same prefixes went ahead and pushed the records again
// (1.04-1.38 records moved per lost copy). While the responder serves one
// of the session's requests the session is not idle, however long that
// takes (a starved node storing the records pushed to it).
const syncClaimIdle = DefaultRPCTimeout

// syncClaims are the prefixes of the sessions a node serves.
type syncClaims struct {
	mu   sync.Mutex
	held map[*syncClaim]struct{}
	// freed is closed (and dropped) when a claim is released; nil while
	// no session waits.
	freed chan struct{}
	// overruns counts claims that waited out the bound (or ctx) with an
	// overlapping session still open, idled those that went ahead because
	// the overlapping sessions had gone idle (syncClaimIdle): both let two
	// sessions over the same prefixes run at once.
	overruns, idled int
	// longestGap is the longest an initiator took from an answer to the
	// session's next request.
	longestGap time.Duration
}

// syncClaim is one session's prefixes: coarsest (sorted, none holding
// another).
type syncClaim struct {
	ps []prefix
	// active is when the session's last request came, or its answer was
	// ready; serving is set while a request is served (under
	// syncClaims.mu).
	active  time.Time
	serving bool
}

// claim registers the prefixes ps of a session, once no other session's
// overlap them, or wait has passed, or ctx is done. It returns the claim,
// to release when the session ends, and whether it waited out the bound
// (or ctx) with an overlapping session still open.
func (c *syncClaims) claim(ctx context.Context, ps []prefix, wait time.Duration) (cl *syncClaim, overran bool) {
	cl = &syncClaim{ps: coarsest(slices.Clone(ps))}
	var timeout <-chan time.Time
	c.mu.Lock()
	for c.overlapping(cl.ps, time.Now()) {
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		if c.freed == nil {
			c.freed = make(chan struct{})
		}
		freed := c.freed
		c.mu.Unlock()
		select {
		case <-freed:
		case <-time.After(syncClaimIdle): // the other session may be idle by now
		case <-timeout:
			overran = true
		case <-ctx.Done():
			overran = true
		}
		c.mu.Lock()
		if overran {
			break
		}
	}
	switch {
	case overran:
		c.overruns++
	case c.overlapsHeld(cl.ps):
		c.idled++
	}
	if c.held == nil {
		c.held = map[*syncClaim]struct{}{}
	}
	cl.active = time.Now()
	c.held[cl] = struct{}{}
	c.mu.Unlock()
	return cl, overran
}

// release ends a claim (nil: none), waking the sessions that wait.
func (c *syncClaims) release(cl *syncClaim) {
	if cl == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.held, cl)
	if c.freed != nil {
		close(c.freed)
		c.freed = nil
	}
}

// touch records that a request of the session of claim cl (nil: none)
// came (serving) or was answered (not serving).
func (c *syncClaims) touch(cl *syncClaim, serving bool) {
	if cl == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if serving && !cl.serving {
		c.longestGap = max(c.longestGap, now.Sub(cl.active))
	}
	cl.active, cl.serving = now, serving
}

// overlapping reports whether a claim held by a session being served, or
// active within syncClaimIdle before now, overlaps ps (coarsest). Called
// with mu held.
func (c *syncClaims) overlapping(ps []prefix, now time.Time) bool {
	for h := range c.held {
		if (h.serving || now.Sub(h.active) < syncClaimIdle) && overlapSorted(h.ps, ps) {
			return true
		}
	}
	return false
}

// overlapsHeld reports whether any held claim overlaps ps (coarsest),
// active or idle. Called with mu held.
func (c *syncClaims) overlapsHeld(ps []prefix) bool {
	for h := range c.held {
		if overlapSorted(h.ps, ps) {
			return true
		}
	}
	return false
}

// counts returns the claims that overran their wait, those that went
// ahead of idle sessions over the same prefixes, and the longest time an
// initiator took from an answer to its next request.
func (c *syncClaims) counts() (overruns, idled int, longestGap time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.overruns, c.idled, c.longestGap
}

// overlapSorted reports whether two coarsest prefix lists share a kad ID.
// Each list's prefixes are disjoint ranges in key-space order, so of two
// disjoint prefixes the one that starts first ends before the other, and
// before any later one of the other list: one merge pass.
func overlapSorted(a, b []prefix) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		if overlaps(a[i], b[j]) {
			return true
		}
		if bytes.Compare(a[i].id[:], b[j].id[:]) < 0 {
			i++
		} else {
			j++
		}
	}
	return false
}
