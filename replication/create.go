package replication

import (
	"context"
)

// create sends rec as version 1 to every holder as a CREATE, which a holder
// stores only if it has no record of the key and otherwise answers with the
// record it has. Once W holders stored it and R answered without a record,
// no write of the key can have been acknowledged (R + W exceeds the
// holders), so version 1 is right and the put is done in one round trip.
// Otherwise the answers are a read of the key (or, too few, one follows).
// If that finds another writer's record, the put is committed over their
// winner in a second round, which supersedes the version 1 copies the first
// round left. If it finds none (only rec's own copies, or nothing), rec
// itself is sent again as a plain write: a put writes one record of
// version 1, never two that a reader or a watch would tell apart.
func (m *Manager) create(ctx context.Context, rec *Record, o WriteOptions) (WriteResult, error) {
	w, err := m.prepareWrite(rec, o)
	if err != nil {
		return WriteResult{}, err
	}
	if err := m.stamp(ctx, rec, nil, o); err != nil {
		return WriteResult{}, err
	}
	tally := newWriteTally(w.writeNeed, w.readNeed)
	m.replicate(ctx, rec, w.c, opCreate, tally)
	return m.created(ctx, rec, w, o, tally)
}

// created finishes a put of rec, stamped as version 1, after its round of
// CREATEs to w's holders, whose answers tally counted: done if the round
// is complete, else on from what the round found, as create says. The
// round may have been a bulk one (bulk.go) that left some holders out.
func (m *Manager) created(ctx context.Context, rec *Record, w writeRound, o WriteOptions, tally *writeTally) (WriteResult, error) {
	found, readNeed := w.found, w.readNeed
	res := WriteResult{Needed: w.writeNeed, Replicas: found}
	acks, existing := tally.result()
	if len(existing) == 0 && acks >= max(res.Needed, readNeed) {
		res.Version, res.Acks = rec.Version, acks
		return res, nil
	}
	if ctx.Err() != nil {
		res.Acks = acks
		return res, m.shortfall(res, found, ctx.Err())
	}
	w.c = m.router.candidates(DHTKey(rec.Key), m.cfg.Factor)
	var cur *Record
	var err error
	if acks+len(existing) >= readNeed {
		cur = m.winner(existing)
	} else if cur, err = m.read(ctx, rec.Key, w.c, readNeed); err != nil {
		return WriteResult{}, err
	}
	if cur == nil || cur.Compare(rec) == 0 {
		// rec is only read from here on: the first round's sends may
		// still be under way.
		return m.send(ctx, rec, w, false)
	}
	// The second round gets its own record and candidate set.
	return m.commit(ctx, &Record{Key: rec.Key, Value: rec.Value}, cur, w, o)
}
