package replication

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Bulk puts (issue 20: a load through the API). PutMany writes many keys
// the way Put writes one, but shares the per-message costs between them:
// it prepares every entry first (key and size checks, owned keys, the
// holders from the routing table, version 1, the signature), then sends
// each holder its entries' CREATEs together, as BATCH messages of up to
// maxBatch requests within the message size limit (rpcbatch.go), one
// message at a time per holder. A holder serves a batch's sub-requests as
// it would serve them alone (charged to the peer's request limit, each
// record validated in full). Each entry's answers are tallied as its own
// round of CREATEs: an entry whose round is complete (W holders stored it,
// R without a record) is done in that one round trip; any other (a holder
// had a record, referred the writer elsewhere, was busy, failed or did
// not answer) goes on exactly as a single put after its first round
// (Manager.created): a read of the key if needed, then a write of the
// same record, or a new version over another writer's. One complete
// without every holder goes on in the background as a put's round does:
// to the peers a referral named, or an audit after a holder failed
// (bulkFollowUp).
//
// The memory of a bulk put is its entries' records, plus one batch message
// for each of the bulkPeers holders it sends to at once.

// BulkPut is one entry of PutMany: a plain put (no compare-and-set).
type BulkPut struct {
	Key   string
	Value []byte
	TTL   time.Duration // 0 = never expires
}

// Bounds of a bulk put's work at once: the holders it sends to (each a
// batch message at a time: with 1 KiB values, ≈ 80 KiB each), and the
// entries that go on after an incomplete first round, each as a single
// put would.
const (
	bulkPeers    = 32
	bulkParallel = 8
)

// bulkEntry is one entry of a bulk put, prepared.
type bulkEntry struct {
	rec   *Record
	w     writeRound
	o     WriteOptions
	tally *writeTally
	// failed is set when a holder of its round failed; refs are the
	// referrals its round got.
	failed atomic.Bool
	mu     sync.Mutex
	refs   []*errNotHolder
}

// PutMany puts each entry of puts as Put would with write quorum w (0 =
// the configured one) and returns each one's result and error, in order.
// Entries are independent: some may be written and others not.
func (m *Manager) PutMany(ctx context.Context, puts []BulkPut, w int) ([]WriteResult, []error) {
	results := make([]WriteResult, len(puts))
	errs := make([]error, len(puts))
	entries := make([]bulkEntry, len(puts))
	byPeer := make(map[peer.ID][]int)
	for i, p := range puts {
		e := &entries[i]
		e.o = WriteOptions{TTL: p.TTL, W: w}
		if errs[i] = m.checkOwnWrite(p.Key); errs[i] != nil { // owner.go
			continue
		}
		rec := &Record{Key: p.Key, Value: p.Value}
		if e.w, errs[i] = m.prepareWrite(rec, e.o); errs[i] != nil {
			continue
		}
		if errs[i] = m.stamp(ctx, rec, nil, e.o); errs[i] != nil {
			continue
		}
		e.rec = rec
		e.tally = newWriteTally(e.w.writeNeed, e.w.readNeed)
		for p := range e.w.c.windowPeers() {
			byPeer[p] = append(byPeer[p], i)
		}
	}
	m.bulkRound(ctx, entries, byPeer)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(bulkParallel, len(puts)) {
		wg.Go(func() {
			for i := range next {
				e := &entries[i]
				results[i], errs[i] = m.created(ctx, e.rec, e.w, e.o, e.tally)
			}
		})
	}
	var referred []*bulkEntry // complete in the first round, with referrals
	var failed []*Record      // complete, with a holder that failed
	for i := range entries {
		if errs[i] != nil {
			continue
		}
		e := &entries[i]
		if acks, existing := e.tally.result(); len(existing) == 0 && acks >= max(e.w.writeNeed, e.w.readNeed) {
			if len(e.referrals()) > 0 {
				referred = append(referred, e)
			} else if e.failed.Load() {
				failed = append(failed, e.rec)
			}
		}
		next <- i
	}
	close(next)
	wg.Wait()
	m.bulkFollowUp(referred, failed)
	return results, errs
}

// referrals returns the referrals e's round got.
func (e *bulkEntry) referrals() []*errNotHolder {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refs
}

// bulkFollowUp completes in the background what a single put's round does
// beyond its quorum for the entries whose first round was complete but not
// whole: the records of those a holder referred elsewhere go to the peers
// it named, through writeHolders (which goes on as for a put: further
// referrals, an audit if a holder fails); those a holder failed are
// audited after half a repair interval, as writeHolders does.
func (m *Manager) bulkFollowUp(referred []*bulkEntry, failed []*Record) {
	for _, e := range referred {
		c := m.router.candidates(DHTKey(e.rec.Key), m.cfg.Factor)
		for _, nh := range e.referrals() {
			c.refuse(nh.peer, m.router.filter(nh.nearer))
		}
		m.goTracked(func() { m.writeHolders(e.rec, c, opWrite, newWriteTally(0, 0)) })
	}
	if len(failed) == 0 {
		return
	}
	m.goTracked(func() {
		select {
		case <-time.After(m.cfg.RepairInterval / 2):
		case <-m.ctx.Done():
			return
		}
		for _, r := range failed {
			m.audit(m.ctx, r, m.router.closest(m.ctx, DHTKey(r.Key), m.cfg.Factor))
		}
	})
}

// bulkRound sends every entry's CREATE to the holders byPeer lists it
// under, to bulkPeers of them at once, tallying their answers, and returns
// when all have answered (every tally is finished then) or ctx ends. Sends
// still in flight go on in the background.
func (m *Manager) bulkRound(ctx context.Context, entries []bulkEntry, byPeer map[peer.ID][]int) {
	peers := slices.Collect(maps.Keys(byPeer))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(bulkPeers, len(peers)) {
		wg.Add(1)
		if !m.goTracked(func() {
			defer wg.Done()
			for j := int(next.Add(1)) - 1; j < len(peers); j = int(next.Add(1)) - 1 {
				m.bulkSend(peers[j], entries, byPeer[peers[j]])
			}
		}) {
			wg.Done()
		}
	}
	all := make(chan struct{})
	if !m.goTracked(func() {
		wg.Wait()
		for i := range entries {
			if t := entries[i].tally; t != nil {
				t.finish()
			}
		}
		close(all)
	}) {
		return
	}
	select {
	case <-all:
	case <-ctx.Done():
	}
}

// bulkSend sends the CREATEs of entries idx to p (transport.createMany)
// and tallies p's answers; one that failed is left out of its entry's
// tally.
func (m *Manager) bulkSend(p peer.ID, entries []bulkEntry, idx []int) {
	recs := make([]*Record, len(idx))
	for j, i := range idx {
		recs[j] = entries[i].rec
	}
	rc, cancel := m.rpcContext()
	defer cancel()
	have, errs := m.tr.createMany(rc, p, recs)
	for j, i := range idx {
		var nh *errNotHolder
		switch {
		case errors.As(errs[j], &nh):
			e := &entries[i]
			e.mu.Lock()
			e.refs = append(e.refs, nh)
			e.mu.Unlock()
			continue
		case errs[j] != nil:
			entries[i].failed.Store(true)
			m.logger.Debug("write failed", "key", recs[j].Key, "error", errs[j])
			continue
		}
		entries[i].tally.add(answer{peer: p, rec: have[j]})
	}
}
