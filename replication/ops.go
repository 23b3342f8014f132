package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// WriteOptions are the per-request settings of a write.
type WriteOptions struct {
	TTL       time.Duration // 0 = never expires
	W         int           // write quorum; 0 = the configured one
	R         int           // read quorum of the version read; 0 = the configured one
	IfVersion *uint64       // compare-and-set: the version the key must have now
}

// WriteResult reports a write: the version written, how many holders
// acknowledged it when the call returned, how many it needed and how many
// holders it was sent to.
type WriteResult struct {
	Version  uint64
	Acks     int
	Needed   int
	Replicas int
}

// Put writes value under key at the highest version seen plus one and waits
// for W holder acknowledgements. It returns ErrInsufficientReplicas (with the
// result) when fewer acknowledged, ErrVersionConflict on an IfVersion mismatch.
// A plain put (no IfVersion) of a key that no holder has takes one round
// trip (create); any other write reads the key first.
func (m *Manager) Put(ctx context.Context, key string, value []byte, o WriteOptions) (WriteResult, error) {
	rec := &Record{Key: key, Value: value}
	if o.IfVersion == nil {
		return m.create(ctx, rec, o)
	}
	return m.write(ctx, rec, o)
}

// Delete writes a tombstone for key, with the same rules as Put.
func (m *Manager) Delete(ctx context.Context, key string, o WriteOptions) (WriteResult, error) {
	return m.write(ctx, &Record{Key: key, Deleted: true}, o)
}

// write reads the key's current record from R holders, then commits rec
// over it.
func (m *Manager) write(ctx context.Context, rec *Record, o WriteOptions) (WriteResult, error) {
	c, err := m.writeCandidates(rec)
	if err != nil {
		return WriteResult{}, err
	}
	found := len(c.window())
	readNeed, writeNeed, err := m.writeQuorums(o, found)
	if err != nil {
		return WriteResult{}, err
	}
	cur, err := m.read(ctx, rec.Key, c, readNeed)
	if err != nil {
		return WriteResult{}, err
	}
	return m.commit(ctx, rec, cur, c, found, writeNeed, o)
}

// writeQuorums returns a write's read and write quorums among the found
// holders (quorum.go). A request that sets w but not r reads from a
// majority of the holders found: it asked for less than the node's rule.
func (m *Manager) writeQuorums(o WriteOptions, found int) (readNeed, writeNeed int, err error) {
	if writeNeed, err = m.need("w", o.W, m.cfg.WriteQuorum, found); err != nil {
		return 0, 0, err
	}
	r := o.R
	if r == 0 && o.W > 0 {
		r = found/2 + 1
	}
	if readNeed, err = m.need("r", r, m.cfg.ReadQuorum, found); err != nil {
		return 0, 0, err
	}
	return readNeed, writeNeed, nil
}

// create sends rec as version 1 to every holder as a CREATE, which a holder
// stores only if it has no record of the key and otherwise answers with the
// record it has. Once W holders stored it and R answered without a record,
// no write of the key can have been acknowledged (R + W exceeds the
// holders), so version 1 is right and the put is done in one round trip.
// Otherwise the answers are a read of the key (or, too few, one follows),
// and the put is committed over their winner in a second round, which
// supersedes the version 1 copies the first round left.
func (m *Manager) create(ctx context.Context, rec *Record, o WriteOptions) (WriteResult, error) {
	c, err := m.writeCandidates(rec)
	if err != nil {
		return WriteResult{}, err
	}
	found := len(c.window())
	readNeed, writeNeed, err := m.writeQuorums(o, found)
	if err != nil {
		return WriteResult{}, err
	}
	res := WriteResult{Needed: writeNeed, Replicas: found}
	if err := m.stamp(ctx, rec, nil, o); err != nil {
		return WriteResult{}, err
	}
	tally := newWriteTally(res.Needed, readNeed)
	m.replicate(ctx, rec, c, opCreate, tally)
	acks, existing := tally.result()
	if len(existing) == 0 && acks >= max(res.Needed, readNeed) {
		res.Version, res.Acks = rec.Version, acks
		return res, nil
	}
	if ctx.Err() != nil {
		res.Acks = acks
		return res, m.shortfall(res, found, ctx.Err())
	}
	// The first round's writes may still be under way: the second round
	// gets its own record and candidate set.
	next := &Record{Key: rec.Key, Value: rec.Value}
	c = m.router.candidates(DHTKey(rec.Key), m.cfg.Factor)
	var cur *Record
	if acks+len(existing) >= readNeed {
		cur = m.winner(existing)
	} else if cur, err = m.read(ctx, rec.Key, c, readNeed); err != nil {
		return WriteResult{}, err
	}
	return m.commit(ctx, next, cur, c, found, writeNeed, o)
}

// writeCandidates checks rec's key and size and returns the key's holders
// as this node knows them.
func (m *Manager) writeCandidates(rec *Record) (*candidateSet, error) {
	if err := ValidateKey(rec.Key); err != nil {
		return nil, err
	}
	if len(rec.Value) > m.valid.MaxValueSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(rec.Value), m.valid.MaxValueSize)
	}
	return m.router.candidates(DHTKey(rec.Key), m.cfg.Factor), nil
}

// commit writes rec over cur, the key's current record (nil if none): it
// checks IfVersion, stamps rec with the next version and waits for need of
// the found holders to acknowledge. A compare-and-set goes on in commitCAS.
func (m *Manager) commit(ctx context.Context, rec, cur *Record, c *candidateSet, found, need int, o WriteOptions) (WriteResult, error) {
	if o.IfVersion != nil && !versionMatches(cur, *o.IfVersion, time.Now().UnixNano()) {
		have := uint64(0)
		if cur != nil {
			have = cur.Version
		}
		return WriteResult{Version: have}, fmt.Errorf("%w: the key is at version %d, not %d", ErrVersionConflict, have, *o.IfVersion)
	}
	if err := m.stamp(ctx, rec, cur, o); err != nil {
		return WriteResult{}, err
	}
	res := WriteResult{Version: rec.Version, Needed: need, Replicas: found}
	if o.IfVersion != nil {
		return m.commitCAS(ctx, rec, c, res)
	}
	tally := newWriteTally(res.Needed, 0)
	m.replicate(ctx, rec, c, opWrite, tally)
	res.Acks, _ = tally.result()
	if res.Acks < res.Needed {
		return res, m.shortfall(res, found, nil)
	}
	return res, nil
}

// shortfall is the error of a write that did not reach its quorum (cause,
// if not nil, says why it stopped waiting). A write that some holders
// stored is not undone: the error says so, and it is counted.
func (m *Manager) shortfall(res WriteResult, found int, cause error) error {
	why := ""
	if cause != nil {
		why = fmt.Sprintf(" before %v", cause)
	}
	if res.Acks == 0 {
		return fmt.Errorf("%w: 0 of %d holders acknowledged%s, %d needed", ErrInsufficientReplicas, found, why, res.Needed)
	}
	m.partials.Add(1)
	return fmt.Errorf("%w: %d of %d holders acknowledged%s, %d needed; partially applied: %d holders stored it, and a read may return it",
		ErrInsufficientReplicas, res.Acks, found, why, res.Needed, res.Acks)
}

// stamp gives rec the version after cur's (1 without cur), the time of
// writing and the expiry o asks for, and signs it. A version ahead of this
// node's clock (versions.go) is stamped at its earliest written_at; if that
// is more than half of MaxClockSkew away, stamp waits until it is not
// (at most half of MaxClockSkew, as cur passed validation).
func (m *Manager) stamp(ctx context.Context, rec, cur *Record, o WriteOptions) error {
	rec.Version = 1
	if cur != nil {
		rec.Version = cur.Version + 1
	}
	earliest := earliestStamp(rec.Version)
	if wait := time.Until(time.Unix(0, earliest).Add(-MaxClockSkew / 2)); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: version %d is ahead of this node's clock: %v", ErrInsufficientReplicas, rec.Version, ctx.Err())
		}
	}
	now := time.Now()
	rec.WrittenAt = max(now.UnixNano(), earliest)
	rec.ExpiresAt = 0
	if o.TTL > 0 {
		rec.ExpiresAt = now.Add(o.TTL).UnixNano()
	}
	return rec.Sign(m.priv)
}

// versionMatches reports whether the current record satisfies a
// compare-and-set on want. Version 0 matches a key that has no live value.
func versionMatches(cur *Record, want uint64, now int64) bool {
	if cur == nil || !cur.Live(now) {
		return want == 0 || (cur != nil && cur.Version == want)
	}
	return cur.Version == want
}

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

// Get returns the winning live record of key among R holder answers. It
// returns ErrNotFound when the winner is absent, deleted or expired.
func (m *Manager) Get(ctx context.Context, key string, r int) (*Record, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	c := m.router.candidates(DHTKey(key), m.cfg.Factor)
	need, err := m.need("r", r, m.cfg.ReadQuorum, len(c.window()))
	if err != nil {
		return nil, err
	}
	rec, err := m.read(ctx, key, c, need)
	if err != nil {
		return nil, err
	}
	if rec == nil || !rec.Live(time.Now().UnixNano()) {
		return nil, ErrNotFound
	}
	return rec, nil
}

// answer is one holder's reply to a fetch.
type answer struct {
	peer peer.ID
	rec  *Record
	err  error
}

// read asks the key's holders (the window of c) for their copies, this node
// first when it is one (its copy costs no round trip), then the nearest:
// need of them at once, one more for each that fails or answers with a
// referral (whose peers join c), and one more after each hedge delay without
// the quorum (hedge.go). It returns the verified winner once need holders
// answered (nil when none has the key), and repairs the holders that
// answered with an older copy or none in the background.
func (m *Manager) read(ctx context.Context, key string, c *candidateSet, need int) (*Record, error) {
	answers := make(chan answer, maxAskedFactor*c.k)
	launched := 0
	launch := func() bool {
		p, ok := c.next()
		if !ok {
			return false
		}
		launched++
		if !m.goTracked(func() {
			rc, cancel := m.rpcContext()
			defer cancel()
			start := time.Now()
			r, err := m.tr.read(rc, p, key)
			if err == nil && p != m.self {
				m.answerTime.observe(time.Since(start))
			}
			answers <- answer{p, r, err}
		}) {
			answers <- answer{peer: p, err: errClosed}
		}
		return true
	}
	m.reads.Add(1)
	for range need {
		launch()
	}
	hedgeDelay := m.answerTime.hedgeDelay(m.cfg.RPCTimeout / 2)
	hedge := time.NewTimer(hedgeDelay)
	defer hedge.Stop()
	var got []answer
	ok, answered := 0, 0
	for ok < need && answered < launched {
		select {
		case <-hedge.C:
			if launch() {
				m.hedges.Add(1)
			}
			hedge.Reset(hedgeDelay)
		case a := <-answers:
			answered++
			var nh *errNotHolder
			switch {
			case a.err == nil:
				ok++
				got = append(got, a)
			case errors.As(a.err, &nh):
				c.refuse(a.peer, m.router.filter(nh.nearer))
				launch()
			default:
				got = append(got, a)
				launch()
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %d of %d holders answered before %v", ErrInsufficientReplicas, ok, need, ctx.Err())
		}
	}
	if ok < need {
		return nil, fmt.Errorf("%w: %d of %d holders answered, %d needed", ErrInsufficientReplicas, ok, len(c.window()), need)
	}
	winner := m.winner(got)
	pending := launched - answered
	m.goTracked(func() { m.readRepair(got, answers, pending) })
	return winner, nil
}

// winner returns the best record among the answers that pass validation
// (expiry aside: an expired winner means the key expired). A record that
// fails it is never picked, however high its version (remote answers are
// already filtered by transport.verify; this also covers the local copy).
func (m *Manager) winner(got []answer) *Record {
	var best *Record
	for _, a := range got {
		if a.rec == nil || (best != nil && a.rec.Compare(best) <= 0) {
			continue
		}
		if m.valid.checkAnswer(a.rec) == nil {
			best = a.rec
		}
	}
	return best
}

// readRepair waits for the answers still pending, then pushes the winner to
// every holder that answered with an older copy or none.
func (m *Manager) readRepair(got []answer, more <-chan answer, pending int) {
	timeout := time.NewTimer(m.cfg.RPCTimeout)
	defer timeout.Stop()
wait:
	for ; pending > 0; pending-- {
		select {
		case a := <-more:
			got = append(got, a)
		case <-timeout.C:
			break wait
		case <-m.ctx.Done():
			return
		}
	}
	best := m.winner(got)
	if best == nil || best.Expired(time.Now().UnixNano()) {
		return
	}
	for _, a := range got {
		if a.err == nil && (a.rec == nil || a.rec.Compare(best) < 0) {
			if m.pushLimit.Wait(m.ctx) != nil {
				return
			}
			c, cancel := m.rpcContext()
			if m.tr.push(c, a.peer, best) == nil {
				m.repairs.Add(1)
				m.readFixes.Add(1)
			}
			cancel()
		}
	}
}

// HolderState is what one holder of a key stores now.
type HolderState struct {
	Peer    peer.ID
	Version uint64 // 0 when it holds nothing
	Deleted bool   // what it holds is a tombstone
	Err     error  // set when the holder could not be asked
}

// Replicas asks each of the key's k closest live peers what it holds now and
// returns their answers, nearest first, and the winning version among them.
func (m *Manager) Replicas(ctx context.Context, key string) ([]HolderState, uint64, error) {
	if err := ValidateKey(key); err != nil {
		return nil, 0, err
	}
	holders := m.router.closest(ctx, DHTKey(key), m.cfg.Factor)
	states := make([]HolderState, len(holders))
	done := make(chan struct{}, len(holders))
	for i, p := range holders {
		states[i].Peer = p
		go func() {
			defer func() { done <- struct{}{} }()
			c, cancel := context.WithTimeout(ctx, m.cfg.RPCTimeout)
			defer cancel()
			r, err := m.tr.fetch(c, p, key)
			states[i].Err = err
			if r != nil {
				states[i].Version, states[i].Deleted = r.Version, r.Deleted
			}
		}()
	}
	var best uint64
	for range holders {
		<-done
	}
	for _, s := range states {
		best = max(best, s.Version)
	}
	return states, best, nil
}
