package replication

import (
	"context"
	"fmt"
	"math"
)

// A compare-and-set write (if_version) must be acknowledged to at most one
// of several writers that read the same version, and to one of them unless
// holders fail. Holders take it as a SWAP: each stores the first record of
// the new version that reaches it and refuses any other (answering with the
// one it has), so the records of that version that ever enter the holders
// do so before every holder has one; after that, records of that version
// only spread (by repair or by commitCAS's second round), never enter.
//
// A writer therefore waits for every holder it found: once all answered,
// every holder has a record of the version, and the set of such records is
// fixed. The winner is the one that Record.Compare ranks first among them,
// which every writer computes alike from its full view; only its writer
// pushes it over the others (a plain WRITE, which replaces a lower record
// of the same version) and reports success once W holders have it. Since
// the acknowledged record outranks every other of its version, repair can
// only spread it. A writer that cannot hear every holder cannot know the
// winner, and fails with ErrInsufficientReplicas. A record that no holder
// stored is not among them, however it ranks: its writer came too late.
//
// Plain puts do not take part: they are last-writer-wins, and one that
// races a compare-and-set at the same version may replace it if it ranks
// higher (README, "Records").

// commitCAS writes rec, stamped, as the next version of a key read at
// version rec.Version-1 (res is filled in but for Acks).
func (m *Manager) commitCAS(ctx context.Context, rec *Record, c *candidateSet, res WriteResult) (WriteResult, error) {
	tally := newWriteTally(math.MaxInt, 0) // complete once every holder answered
	m.replicate(ctx, rec, c, opSwap, tally)
	acks, existing := tally.result()
	res.Acks = acks
	found := len(c.window())
	best := rec
	for _, a := range existing {
		if a.rec.Version > rec.Version {
			res.Version = a.rec.Version
			return res, fmt.Errorf("%w: the key moved on to version %d", ErrVersionConflict, a.rec.Version)
		}
		if a.rec.Compare(best) > 0 {
			best = a.rec
		}
	}
	switch {
	case best != rec || (acks == 0 && len(existing) > 0): // outranked, or in no holder
		return res, fmt.Errorf("%w: a concurrent write took version %d", ErrVersionConflict, rec.Version)
	case acks+len(existing) < found || ctx.Err() != nil:
		return res, m.shortfall(res, found, fmt.Errorf("hearing from every holder (compare-and-set)"))
	case len(existing) == 0:
		return res, nil
	}
	// rec won: put it over the other records of its version.
	tally = newWriteTally(res.Needed, 0)
	m.replicate(ctx, rec, c, opWrite, tally)
	res.Acks, _ = tally.result()
	if res.Acks < res.Needed {
		return res, m.shortfall(res, found, nil)
	}
	return res, nil
}
