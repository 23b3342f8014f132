package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Get returns the winning live record of key among R holder answers. It
// returns ErrNotFound when the winner is absent, deleted or expired.
func (m *Manager) Get(ctx context.Context, key string, r int) (*Record, error) {
	rec, err := m.Current(ctx, key, r)
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
				c.dropReferred(a.peer)
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
