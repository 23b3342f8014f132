package replication

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// replicate sends rec to the key's holders, the window of c (which moves
// past peers that answer with a referral, to the peers they name), as
// WRITEs or CREATEs (op), and returns once tally is complete or all
// answered, or ctx ends. Writes still in flight go on in the background.
func (m *Manager) replicate(ctx context.Context, rec *Record, c *candidateSet, op byte, tally *writeTally) {
	c.forgetAsked()
	if !m.goTracked(func() { m.writeHolders(rec, c, op, tally) }) {
		return
	}
	select {
	case <-tally.done:
	case <-ctx.Done():
	}
}

// writeTally counts one round of writes to a key's holders. A round is
// complete once need holders stored the record and, in a CREATE round, at
// least readNeed did (all without a record of the key); or, once some
// holder answered with a record it had, when readNeed answered in all.
type writeTally struct {
	need, readNeed int
	done           chan struct{}
	finish         func() // closes done once

	mu       sync.Mutex
	acks     int
	existing []answer // CREATE: the holders that had a record, with it
}

func newWriteTally(need, readNeed int) *writeTally {
	t := &writeTally{need: need, readNeed: readNeed, done: make(chan struct{})}
	t.finish = sync.OnceFunc(func() { close(t.done) })
	return t
}

// add counts a holder's successful answer: stored (a.rec nil) or, for a
// CREATE, the record it has.
func (t *writeTally) add(a answer) {
	t.mu.Lock()
	if a.rec != nil {
		t.existing = append(t.existing, a)
	} else {
		t.acks++
	}
	complete := t.acks >= max(t.need, t.readNeed) || (t.readNeed > 0 && len(t.existing) > 0 && t.acks+len(t.existing) >= t.readNeed)
	t.mu.Unlock()
	if complete {
		t.finish()
	}
}

// result returns the acknowledgements so far and the records found.
func (t *writeTally) result() (acks int, existing []answer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.acks, slices.Clone(t.existing)
}

// writeHolders sends rec to every holder in c's window and tallies their
// answers, finishing the tally when none is left to answer. If a holder
// failed to store the record, the writer audits the key once after half a
// repair interval, so a write acknowledged by only W holders reaches all k
// without waiting for the holders' own sweeps.
func (m *Manager) writeHolders(rec *Record, c *candidateSet, op byte, tally *writeTally) {
	defer tally.finish()
	results := make(chan answer, maxAskedFactor*c.k)
	inFlight := 0
	launch := func() {
		for p, ok := c.next(); ok; p, ok = c.next() {
			inFlight++
			if !m.goTracked(func() {
				rc, cancel := m.rpcContext()
				defer cancel()
				a := answer{peer: p}
				start := time.Now()
				if op == opCreate || op == opSwap {
					a.rec, a.err = m.tr.conditional(rc, p, rec, op)
				} else {
					a.err = m.tr.write(rc, p, rec)
				}
				if a.err == nil && p != m.self {
					m.answerTime.observe(time.Since(start))
				}
				results <- a
			}) {
				results <- answer{peer: p, err: errClosed}
			}
		}
	}
	launch()
	failed := false
	for ; inFlight > 0; inFlight-- {
		var a answer
		select {
		case a = <-results:
		case <-m.ctx.Done():
			return
		}
		var nh *errNotHolder
		switch {
		case a.err == nil:
			tally.add(a)
		case errors.As(a.err, &nh):
			c.refuse(a.peer, m.router.filter(nh.nearer))
			launch()
		default:
			failed = true
			m.logger.Debug("write failed", "key", rec.Key, "error", a.err)
			if c.dropReferred(a.peer) {
				launch()
			}
		}
	}
	tally.finish()
	if !failed {
		return
	}
	select {
	case <-time.After(m.cfg.RepairInterval / 2):
	case <-m.ctx.Done():
		return
	}
	m.audit(m.ctx, rec, m.router.closest(m.ctx, DHTKey(rec.Key), m.cfg.Factor))
}
