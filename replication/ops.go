package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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
func (m *Manager) Put(ctx context.Context, key string, value []byte, o WriteOptions) (WriteResult, error) {
	return m.write(ctx, &Record{Key: key, Value: value}, o)
}

// Delete writes a tombstone for key, with the same rules as Put.
func (m *Manager) Delete(ctx context.Context, key string, o WriteOptions) (WriteResult, error) {
	return m.write(ctx, &Record{Key: key, Deleted: true}, o)
}

func (m *Manager) write(ctx context.Context, rec *Record, o WriteOptions) (WriteResult, error) {
	if err := ValidateKey(rec.Key); err != nil {
		return WriteResult{}, err
	}
	if len(rec.Value) > m.valid.MaxValueSize {
		return WriteResult{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(rec.Value), m.valid.MaxValueSize)
	}
	c := m.router.candidates(DHTKey(rec.Key), m.cfg.Factor)
	found := len(c.window())
	cur, err := m.read(ctx, rec.Key, c, quorum(pick(o.R, m.cfg.ReadQuorum), found))
	if err != nil {
		return WriteResult{}, err
	}
	now := time.Now()
	if o.IfVersion != nil && !versionMatches(cur, *o.IfVersion, now.UnixNano()) {
		have := uint64(0)
		if cur != nil {
			have = cur.Version
		}
		return WriteResult{Version: have}, fmt.Errorf("%w: the key is at version %d, not %d", ErrVersionConflict, have, *o.IfVersion)
	}
	if cur != nil {
		rec.Version = cur.Version
	}
	rec.Version++
	rec.WrittenAt = now.UnixNano()
	if o.TTL > 0 {
		rec.ExpiresAt = now.Add(o.TTL).UnixNano()
	}
	if err := rec.Sign(m.priv); err != nil {
		return WriteResult{}, err
	}
	res := WriteResult{Version: rec.Version, Needed: quorum(pick(o.W, m.cfg.WriteQuorum), found), Replicas: found}
	res.Acks = m.replicate(ctx, rec, c, res.Needed)
	if res.Acks < res.Needed {
		return res, fmt.Errorf("%w: %d of %d holders acknowledged, %d needed", ErrInsufficientReplicas, res.Acks, found, res.Needed)
	}
	return res, nil
}

// versionMatches reports whether the current record satisfies a
// compare-and-set on want. Version 0 matches a key that has no live value.
func versionMatches(cur *Record, want uint64, now int64) bool {
	if cur == nil || !cur.Live(now) {
		return want == 0 || (cur != nil && cur.Version == want)
	}
	return cur.Version == want
}

func pick(request, configured int) int {
	if request > 0 {
		return request
	}
	return configured
}

// replicate writes rec to the key's holders, the window of c (which moves
// past peers that answer with a referral, to the peers they name), and
// returns once need of them acknowledged or all answered, or ctx ends.
// Writes still in flight go on in the background.
func (m *Manager) replicate(ctx context.Context, rec *Record, c *candidateSet, need int) int {
	var acks atomic.Int64
	done := make(chan struct{})
	c.forgetAsked()
	if !m.goTracked(func() { m.writeHolders(rec, c, need, &acks, done) }) {
		return 0
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return int(acks.Load())
}

// writeHolders sends rec to every holder in c's window and closes done once
// need acknowledged or none is left to answer. If a holder failed to store
// the record, the writer audits the key once after half a repair interval,
// so a write acknowledged by only W holders reaches all k without waiting
// for the holders' own sweeps.
func (m *Manager) writeHolders(rec *Record, c *candidateSet, need int, acks *atomic.Int64, done chan struct{}) {
	signal := sync.OnceFunc(func() { close(done) })
	defer signal()
	results := make(chan answer, maxAskedFactor*c.k)
	inFlight := 0
	launch := func() {
		for p, ok := c.next(); ok; p, ok = c.next() {
			inFlight++
			if !m.goTracked(func() {
				rc, cancel := m.rpcContext()
				defer cancel()
				results <- answer{peer: p, err: m.tr.write(rc, p, rec)}
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
			if acks.Add(1) >= int64(need) {
				signal()
			}
		case errors.As(a.err, &nh):
			c.refuse(a.peer, m.router.filter(nh.nearer))
			launch()
		default:
			failed = true
			m.logger.Debug("write failed", "key", rec.Key, "error", a.err)
		}
	}
	signal()
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
	rec, err := m.read(ctx, key, c, quorum(pick(r, m.cfg.ReadQuorum), len(c.window())))
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

// winner returns the best record among the answers whose signature verifies.
func (m *Manager) winner(got []answer) *Record {
	for {
		var best *Record
		for _, a := range got {
			if a.rec != nil && (best == nil || a.rec.Compare(best) > 0) {
				best = a.rec
			}
		}
		if best == nil || m.valid.check(best) == nil || best.Expired(time.Now().UnixNano()) {
			return best
		}
		for i := range got { // forged or oversized: drop every copy of it
			if got[i].rec != nil && got[i].rec.Compare(best) == 0 {
				got[i].rec = nil
			}
		}
	}
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
			}
			cancel()
		}
	}
}

// HolderState is what one holder of a key stores now.
type HolderState struct {
	Peer    peer.ID
	Version uint64 // 0 when it holds nothing
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
				states[i].Version = r.Version
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
