package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
)

// Range sync: two holders bring their records in some prefixes to the same
// winners by comparing digests (digest.go), descending only into the ranges
// that differ, and exchanging only the records that differ, over the sync
// protocol (syncproto.go). In-sync ranges cost one round trip and a few
// bytes per prefix; d differing records cost about log16(n) digest rounds
// and their entries, plus the records.

// Sync session bounds.
const (
	// syncMaxRounds bounds the round trips of one session.
	syncMaxRounds = 10_000
	// syncGroupPrefixes is the most prefixes a session puts in one group.
	syncGroupPrefixes = 1024
	// syncWalkMax bounds the records a responder reads to find the
	// records of one want.
	syncWalkMax = 4 * syncEntryMax
	// syncRequestBytes bounds the records one request pushes, and those it
	// asks for (at least one record either way): a holder that several
	// survivors fill at once verifies and stores a request's records before
	// it answers, and a request of 2 MiB (1,800 records of 1 KiB) to a
	// replacement of a dead holder, on two cores shared by 14 nodes, took
	// longer than a round may (4 × RPCTimeout), failing the session.
	syncRequestBytes = 256 << 10
	// syncIdleTimeout is how long a responder waits for the next request.
	syncIdleTimeout = 30 * time.Second
	// Defaults of the per-peer limit on sync requests a node serves.
	syncPeerRate  = 50 // requests per second
	syncPeerBurst = 500
)

// syncConn is one sync session's stream to a peer.
type syncConn interface {
	// roundTrip sends a request and returns the answer.
	roundTrip(ctx context.Context, req []byte) ([]byte, error)
	close()
}

// syncMode says which way a session moves records.
type syncMode byte

const (
	// syncBoth: each side keeps the winners of both.
	syncBoth syncMode = iota
	// syncPush: a hand-off (a range this node does not hold): only this
	// node's winners move, to the peer; this node stores nothing of the
	// peer's, so that concurrent hand-offs of a range to its holders each
	// complete, and the range is dropped once they have.
	syncPush
)

// syncResult is what a session did.
type syncResult struct {
	// equal: the prefixes' digests agreed at the end, both being digest
	// (all the prefixes' records together).
	equal  bool
	digest rangeDigest
	// sent: records the peer stored from this node; received: records this
	// node stored from the peer; bad: records from the peer that failed
	// verification.
	sent, received, bad int
	bytes               int64 // sent and received
	rounds              int
	// handedOff (syncPush): the session ran to its end and the peer
	// stored every record this node had the winner of; the peer may hold
	// more, or newer ones, than this node.
	handedOff bool
}

// syncRanges brings this node's and p's records in the given prefixes to the
// same winners (both directions; with syncPush, only p's) and reports
// whether they ended equal (or handed off), and what moved.
func (m *Manager) syncRanges(ctx context.Context, p peer.ID, ps []prefix, mode syncMode) (syncResult, error) {
	var res syncResult
	if m.digests == nil {
		return res, errNoDigests
	}
	if len(ps) == 0 {
		res.equal, res.handedOff = true, mode == syncPush
		return res, nil
	}
	conn, err := m.tr.openSync(ctx, p)
	if err != nil {
		return res, fmt.Errorf("sync with %s: %w", p.ShortString(), err)
	}
	defer conn.close()
	s := &syncSession{m: m, peer: p, conn: conn, res: &res, mode: mode, budget: min(syncRequestBytes, syncFrameLimit(m.valid.MaxValueSize)/2)}
	if s.groups, err = s.groupsOf(ctx, ps); err != nil {
		return res, err
	}
	digest := s.digest()
	moved := false
	for s.pending() {
		if res.rounds >= syncMaxRounds {
			return res, fmt.Errorf("sync with %s: over %d rounds", p.ShortString(), syncMaxRounds)
		}
		differs, err := s.round(ctx)
		if err != nil {
			return res, err
		}
		moved = moved || differs
	}
	if !moved {
		res.equal, res.digest, res.handedOff = true, digest, mode == syncPush
		return res, nil
	}
	if mode == syncPush {
		// The peer holds what it held and what this node pushed: the
		// digests need not agree.
		res.handedOff = len(s.ties) == 0 && res.sent == s.pushed
		return res, nil
	}
	// Something differed: one more round tells whether the ranges now
	// agree (what differs still is left to the next session).
	if s.groups, err = s.groupsOf(ctx, ps); err != nil {
		return res, err
	}
	digest = s.digest()
	differs, err := s.round(ctx)
	res.equal = err == nil && !differs && len(s.groups) == 0
	if res.equal {
		res.digest = digest
	}
	return res, err
}

// syncSession is the initiator's side of one session.
type syncSession struct {
	m      *Manager
	peer   peer.ID
	conn   syncConn
	res    *syncResult
	mode   syncMode
	budget int // bytes of records per request, and asked for per answer
	// pushed counts the records pushed that the peer should store; ties
	// (syncPush) are the records pushed whose version and write time the
	// peer's copy shares: the peer stores this node's only if it wins,
	// which this node learns from the peer's copy (asked for, not stored).
	pushed int
	ties   map[[32]byte]*Record

	groups []pendingGroup
	push   []keyedWire
	want   []syncWant
}

// pendingGroup is a group to send, with this node's digests of its prefixes.
type pendingGroup struct {
	syncGroup
	own []rangeDigest // per prefix
}

// groupsOf returns the pending groups of the prefixes ps: one group of
// each syncGroupPrefixes of them.
func (s *syncSession) groupsOf(ctx context.Context, ps []prefix) ([]pendingGroup, error) {
	var out []pendingGroup
	for chunk := range slices.Chunk(ps, syncGroupPrefixes) {
		g := pendingGroup{syncGroup: syncGroup{prefixes: chunk}}
		var err error
		if g.own, g.digest, err = s.m.digests.digests(ctx, chunk); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// digest returns this node's digest of the pending groups' prefixes.
func (s *syncSession) digest() rangeDigest {
	var d rangeDigest
	for _, g := range s.groups {
		d.merge(g.digest)
	}
	return d
}

func (s *syncSession) pending() bool { return len(s.groups)+len(s.push)+len(s.want) > 0 }

// round sends what is pending (up to the bounds of one request), and takes
// in the answer. It reports whether any group differed.
func (s *syncSession) round(ctx context.Context) (differs bool, err error) {
	req, sent := s.nextRequest()
	msg := req.encode()
	c, cancel := context.WithTimeout(ctx, 4*s.m.cfg.RPCTimeout)
	defer cancel()
	answer, err := s.conn.roundTrip(c, msg)
	s.res.rounds++
	s.res.bytes += int64(len(msg) + len(answer))
	s.m.countRepair(uint64(len(msg)), uint64(len(answer)))
	if err != nil {
		return false, fmt.Errorf("sync with %s: %w", s.peer.ShortString(), err)
	}
	switch answer[0] {
	case statusBusy:
		return false, fmt.Errorf("sync with %s: %w", s.peer.ShortString(), errBusy)
	case statusInvalid, statusFailed:
		return false, fmt.Errorf("sync with %s: refused: %.200q", s.peer.ShortString(), answer[1:])
	}
	a, err := decodeSyncAnswer(answer, req)
	if err != nil {
		s.m.tr.misbehaved(s.peer)
		return false, fmt.Errorf("sync with %s: %w", s.peer.ShortString(), err)
	}
	s.res.sent += a.stored
	s.take(ctx, a.records, req.want)
	for i, ga := range a.groups {
		if ga.kind == groupEqual {
			continue
		}
		differs = true
		if err := s.follow(ctx, sent[i], ga); err != nil {
			return differs, err
		}
	}
	return differs, nil
}

// nextRequest takes what fits in one request off the pending lists; it also
// returns the groups sent, with this node's digests.
func (s *syncSession) nextRequest() (*syncRequest, []pendingGroup) {
	req := &syncRequest{}
	n, prefixes := 0, 0
	for n < len(s.groups) && n < syncMaxGroups && prefixes+len(s.groups[n].prefixes) <= syncMaxPrefixes {
		prefixes += len(s.groups[n].prefixes)
		n++
	}
	sent := s.groups[:n:n]
	s.groups = s.groups[n:]
	for _, g := range sent {
		req.groups = append(req.groups, g.syncGroup)
	}
	size := 0
	for len(s.push) > 0 && (size == 0 || size+len(s.push[0].wire) <= s.budget) {
		size += len(s.push[0].wire)
		req.push = append(req.push, s.push[0])
		s.push = s.push[1:]
	}
	wants, size := 0, 0
	for len(s.want) > 0 && len(req.want) < syncMaxGroups && wants+len(s.want[0].ids) <= syncMaxWants &&
		(size == 0 || size+s.want[0].size <= s.budget) {
		wants += len(s.want[0].ids)
		size += s.want[0].size
		req.want = append(req.want, s.want[0])
		s.want = s.want[1:]
	}
	return req, sent
}

// follow plans the next step for a group that differs: the parts that
// differ become groups of their own; entries are compared with this node's,
// and what differs is pushed or asked for.
func (s *syncSession) follow(ctx context.Context, g pendingGroup, ga groupAnswer) error {
	if ga.kind == groupEntries {
		return s.compareEntries(ctx, g.prefixes[0], ga.entries)
	}
	parts, own := g.prefixes, g.own
	if len(g.prefixes) == 1 {
		p := g.prefixes[0]
		n := splitBits(p)
		parts = make([]prefix, 1<<n)
		for i := range parts {
			parts[i] = p.extend(i, n)
		}
		var err error
		if own, err = s.m.digests.parts(ctx, p); err != nil {
			return err
		}
	}
	for i, theirs := range ga.parts {
		if theirs != own[i] {
			s.groups = append(s.groups, pendingGroup{syncGroup: syncGroup{prefixes: parts[i : i+1], digest: own[i]}, own: own[i : i+1]})
		}
	}
	return nil
}

// compareEntries compares the peer's entries of p with this node's: the
// records this node has the winner of are pushed, the others asked for.
// Where both have a record of the same version and write time, both are
// exchanged, and each side keeps the winner.
func (s *syncSession) compareEntries(ctx context.Context, p prefix, theirs []syncEntry) error {
	byID := make(map[[32]byte]syncEntry, len(theirs))
	for _, e := range theirs {
		byID[e.id] = e
	}
	want := syncWant{prefix: p}
	push := s.mode == syncPush
	// A hand-off leaves the droppable records of the range to dropRange:
	// dropping them here would change the range's digest under it.
	err := s.m.eachEntry(ctx, p, !push, func(e syncEntry, r *Record, wire []byte) error {
		t, ok := byID[e.id]
		delete(byID, e.id)
		switch {
		case ok && t.digest == e.digest:
			return nil
		case !ok || t.version < e.version || t.version == e.version && t.writtenAt < e.writtenAt:
			s.push = append(s.push, keyedWire{key: r.Key, wire: wire})
			s.pushed++
		case t.version == e.version && t.writtenAt == e.writtenAt:
			s.push = append(s.push, keyedWire{key: r.Key, wire: wire})
			want.ids, want.size = append(want.ids, e.id), want.size+t.size
			if push {
				if s.ties == nil {
					s.ties = map[[32]byte]*Record{}
				}
				s.ties[e.id] = r
			}
		case !push:
			want.ids, want.size = append(want.ids, e.id), want.size+t.size
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, t := range byID {
		if !push {
			want.ids, want.size = append(want.ids, id), want.size+t.size
		}
	}
	if len(want.ids) > 0 {
		s.want = append(s.want, want)
	}
	return nil
}

// take verifies and stores the records the peer answered with: only those
// asked for.
func (s *syncSession) take(ctx context.Context, recs []keyedWire, asked []syncWant) {
	wanted := make(map[[32]byte]bool)
	for _, w := range asked {
		for _, id := range w.ids {
			wanted[id] = true
		}
	}
	var keep []*Record
	for _, kw := range recs {
		var id [32]byte
		copy(id[:], kb.ConvertKey(DHTKey(kw.key)))
		if !wanted[id] {
			s.badRecord(kw.key, errors.New("not asked for"))
			continue
		}
		delete(wanted, id)
		r, err := Unmarshal(kw.key, kw.wire)
		if err == nil && s.mode == syncPush {
			err = s.m.valid.checkAnswer(r)
		}
		if err != nil {
			s.badRecord(kw.key, err)
			continue
		}
		if s.mode == syncPush {
			// Asked for as a tie: the peer keeps this node's copy only if
			// it wins (then it answers with it: the push is served first).
			// Nothing is stored.
			if ours := s.ties[id]; ours != nil {
				delete(s.ties, id)
				if ours.Compare(r) >= 0 {
					s.pushed++
				}
			}
			continue
		}
		if droppable(r, time.Now(), s.m.cfg.TombstoneTTL) {
			continue // droppable here (the clocks differ): it would be dropped again
		}
		keep = append(keep, r)
	}
	// One store batch for the answer's records. A copy held already
	// (another session brought it) is not verified again, and counts as
	// received, as re-storing it would.
	for i, res := range s.m.store.PutCheckedBatch(ctx, keep, s.m.valid.checkAnswer) {
		switch {
		case res.bad != nil:
			s.badRecord(keep[i].Key, res.bad)
		case res.err != nil:
			s.m.logger.Debug("sync: storing a record", "key", keep[i].Key, "peer", s.peer, "error", res.err)
		case res.stored:
			s.res.received++
		}
	}
}

func (s *syncSession) badRecord(key string, err error) {
	s.res.bad++
	s.m.tr.misbehaved(s.peer)
	s.m.logger.Debug("sync: bad record", "key", key, "peer", s.peer, "error", err)
}

// eachEntry calls fn for every record in p that is not due to be dropped
// (expired, or a tombstone past its TTL: those are never sent), with its
// entry and wire form, until fn returns an error. With drops, the droppable
// records it meets (up to syncWalkMax) it drops, as the store walk would (repair.go):
// the range digests count every stored record, so two holders that differ
// only in droppable records would otherwise differ in every session, with
// nothing to move, until both walks reached them. Both sides of a session
// list the entries of a differing range, so both drop them there.
func (m *Manager) eachEntry(ctx context.Context, p prefix, drops bool, fn func(e syncEntry, r *Record, wire []byte) error) error {
	lo, hi := p.bounds()
	now := time.Now()
	var drop []*Record
	err := m.store.EachInRange(ctx, lo, hi, func(id []byte, r *Record, _ int) error {
		if droppable(r, now, m.cfg.TombstoneTTL) {
			if drops && len(drop) < syncWalkMax {
				drop = append(drop, r)
			}
			return nil
		}
		wire := r.Marshal()
		e := syncEntry{version: r.Version, writtenAt: r.WrittenAt, digest: digestOf(id, wire), size: len(wire)}
		copy(e.id[:], id)
		return fn(e, r, wire)
	})
	m.dropRecords(ctx, drop)
	return err
}

// dropRecords removes droppable records from the store, each only if it is
// still the stored copy of its key.
func (m *Manager) dropRecords(ctx context.Context, recs []*Record) {
	for _, r := range recs {
		if err := m.store.Remove(ctx, r); err != nil && ctx.Err() == nil {
			m.logger.Warn("dropping an expired record", "key", r.Key, "error", err)
		}
	}
}

// errEnoughEntries ends a walk of a range that holds more records than an
// entry list may.
var errEnoughEntries = errors.New("more records than an entry list holds")

// droppable reports whether a holder drops r at now: an expired record, or a
// tombstone older than ttl, unless its key is kept forever (owner.go).
func droppable(r *Record, now time.Time, ttl time.Duration) bool {
	return !keepsForever(r.Key) && ((r.Expired(now.UnixNano()) && !r.Deleted) || (r.Deleted && now.Sub(time.Unix(0, r.WrittenAt)) > ttl))
}

// syncServed is the responder's side of one session: the prefixes it
// claimed (syncclaim.go).
type syncServed struct {
	m     *Manager
	from  peer.ID
	claim *syncClaim // nil until the first request with groups
}

// serveSession begins serving a session from peer from; end it with end.
func (m *Manager) serveSession(from peer.ID) *syncServed { return &syncServed{m: m, from: from} }

// serve answers one request of the session; the session's claim counts
// as active until the answer is ready.
func (s *syncServed) serve(msg []byte) []byte {
	s.m.syncClaims.touch(s.claim, true)
	answer := s.m.serveSyncFrame(s.from, msg, s)
	s.m.syncClaims.touch(s.claim, false)
	return answer
}

// end releases the session's prefixes.
func (s *syncServed) end() { s.m.syncClaims.release(s.claim) }

// claimGroups claims the prefixes of the groups of the session's first
// request, waiting (bounded) for the sessions over overlapping prefixes.
func (s *syncServed) claimGroups(ctx context.Context, groups []syncGroup) {
	var ps []prefix
	for _, g := range groups {
		ps = append(ps, g.prefixes...)
	}
	began := time.Now()
	claim, overran := s.m.syncClaims.claim(ctx, ps, syncClaimWait(s.m.cfg.RPCTimeout))
	s.claim = claim
	s.m.syncClaims.touch(claim, true) // this first request is being served
	if waited := time.Since(began); waited >= time.Millisecond {
		s.m.logger.Debug("sync: waited for the sessions over the same prefixes", "peer", s.from, "prefixes", len(ps), "waited", waited, "overran", overran)
	}
}

// serveSyncFrame answers one sync request from peer from, within from's
// request rate, and counts its bytes. Within a session (sess not nil), the
// first request waits for the sessions over the same prefixes
// (syncclaim.go).
func (m *Manager) serveSyncFrame(from peer.ID, msg []byte, sess *syncServed) []byte {
	answer := []byte{statusBusy}
	if m.syncLimits.allow(from) {
		answer = m.serveSync(m.ctx, from, msg, sess)
	}
	m.countRepair(uint64(len(answer)), uint64(len(msg)))
	return answer
}

// countRepair counts repair bytes: sent are those this node accounts for in
// the network's repair traffic (what it sent, and what its audits fetched
// from holders that do not count it), received those another node accounts
// for (a sync message the peer sent). Both go into repairBytes.
func (m *Manager) countRepair(sent, received uint64) {
	m.repairBytes.Add(sent + received)
	m.repairSent.Add(sent)
}

// serveSync answers one sync request from peer from, within session sess
// (nil: none).
func (m *Manager) serveSync(ctx context.Context, from peer.ID, msg []byte, sess *syncServed) []byte {
	req, err := decodeSyncRequest(msg)
	if err != nil {
		return append([]byte{statusInvalid}, err.Error()...)
	}
	if m.digests == nil {
		return append([]byte{statusFailed}, errNoDigests.Error()...)
	}
	if sess != nil && sess.claim == nil && len(req.groups) > 0 {
		sess.claimGroups(ctx, req.groups)
	}
	a := &syncAnswer{}
	agreed, digest, prefixes := true, rangeDigest{}, []prefix(nil)
	for _, g := range req.groups {
		ga, err := m.answerGroup(ctx, g)
		if err != nil {
			return append([]byte{statusFailed}, err.Error()...)
		}
		a.groups = append(a.groups, ga)
		agreed = agreed && ga.kind == groupEqual
		digest.merge(g.digest)
		prefixes = append(prefixes, g.prefixes...)
	}
	if len(req.groups) > 0 { // what anti-entropy knows of from (antientropy.go)
		m.partners.ended(from, agreed, prefixesKey(prefixes), digest)
	}
	a.stored = m.storeSyncedBatch(ctx, from, req.push)
	// Wanted records come from entry lists: a want's range holds few
	// records, and a walk of one stops past syncWalkMax.
	budget := syncFrameLimit(m.valid.MaxValueSize) / 2
	for _, w := range req.want {
		seen := 0
		err := m.eachEntry(ctx, w.prefix, true, func(e syncEntry, r *Record, wire []byte) error {
			if seen++; seen > syncWalkMax {
				return errEnoughEntries
			}
			if budget >= len(wire) && slices.Contains(w.ids, e.id) {
				budget -= len(wire)
				a.records = append(a.records, keyedWire{key: r.Key, wire: wire})
			}
			return nil
		})
		if err != nil && !errors.Is(err, errEnoughEntries) {
			return append([]byte{statusFailed}, err.Error()...)
		}
	}
	return a.encode()
}

// answerGroup compares a group's digest with this node's.
func (m *Manager) answerGroup(ctx context.Context, g syncGroup) (groupAnswer, error) {
	own, all, err := m.digests.digests(ctx, g.prefixes)
	if err != nil {
		return groupAnswer{}, err
	}
	switch {
	case all == g.digest:
		return groupAnswer{kind: groupEqual}, nil
	case len(g.prefixes) > 1:
		return groupAnswer{kind: groupParts, parts: own}, nil
	}
	p := g.prefixes[0]
	if splitBits(p) == 0 || all.count <= syncEntryMax && g.digest.count <= syncEntryMax {
		var entries []syncEntry
		err := m.eachEntry(ctx, p, true, func(e syncEntry, _ *Record, _ []byte) error {
			if len(entries) == syncEntryMax {
				return errEnoughEntries // more written meanwhile: split instead
			}
			entries = append(entries, e)
			return nil
		})
		switch {
		case err == nil:
			return groupAnswer{kind: groupEntries, entries: entries}, nil
		case !errors.Is(err, errEnoughEntries):
			return groupAnswer{}, err
		}
	}
	parts, err := m.digests.parts(ctx, p)
	return groupAnswer{kind: groupParts, parts: parts}, err
}

// storeSyncedBatch verifies and stores the records of one sync request,
// pushed by from, as record PUTs would be: not one far from this node, nor
// one that fails verification (a bad answer). They go to the store in one
// batch (Store.PutCheckedBatch); it returns how many it stored.
func (m *Manager) storeSyncedBatch(ctx context.Context, from peer.ID, kws []keyedWire) int {
	now := time.Now()
	recs := make([]*Record, 0, len(kws))
	for _, kw := range kws {
		if ValidateKey(kw.key) != nil {
			m.tr.misbehaved(from)
			continue
		}
		if m.syncFar != nil && m.syncFar(kw.key) {
			continue
		}
		r, err := Unmarshal(kw.key, kw.wire)
		if err != nil {
			m.tr.misbehaved(from)
			m.logger.Debug("sync: bad record pushed", "key", kw.key, "peer", from, "error", err)
			continue
		}
		if droppable(r, now, m.cfg.TombstoneTTL) {
			continue // not a bad record: the peer's clock may differ
		}
		recs = append(recs, r)
	}
	stored := 0
	// A copy held already is not verified again (PutChecked).
	for i, res := range m.store.PutCheckedBatch(ctx, recs, m.valid.checkAnswer) {
		switch {
		case res.bad != nil:
			m.tr.misbehaved(from)
			m.logger.Debug("sync: bad record pushed", "key", recs[i].Key, "peer", from, "error", res.bad)
		case res.err != nil:
			m.logger.Debug("sync: storing a pushed record", "key", recs[i].Key, "peer", from, "error", res.err)
		case res.stored:
			stored++
		}
	}
	return stored
}

// handleSync serves one sync session on s: requests until the peer closes
// the stream, or stays idle for syncIdleTimeout.
func (m *Manager) handleSync(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	sess := m.serveSession(from)
	defer sess.end()
	r := msgio.NewVarintReaderSize(s, syncFrameLimit(m.valid.MaxValueSize))
	w := msgio.NewVarintWriter(s)
	for {
		if err := s.SetDeadline(time.Now().Add(syncIdleTimeout)); err != nil {
			s.Reset()
			return
		}
		msg, err := r.ReadMsg()
		if err != nil {
			return // the session ended (or failed)
		}
		answer := sess.serve(msg)
		r.ReleaseMsg(msg)
		if err := w.WriteMsg(answer); err != nil {
			s.Reset()
			return
		}
	}
}

// streamSync is a sync session over a libp2p stream.
type streamSync struct{ rs *rpcStream }

func (c streamSync) roundTrip(ctx context.Context, req []byte) ([]byte, error) {
	answer, _, err := c.rs.roundTrip(ctx, req)
	return answer, err
}

func (c streamSync) close() { c.rs.s.Close() }

// openSync opens a sync session with p.
func (t *transport) openSync(ctx context.Context, p peer.ID) (syncConn, error) {
	s, err := t.client.h.NewStream(ctx, p, t.syncProto)
	if err != nil {
		return nil, err
	}
	limit := syncFrameLimit(t.store.valid.MaxValueSize)
	return streamSync{&rpcStream{s: s, r: msgio.NewVarintReaderSize(s, limit), w: msgio.NewVarintWriter(s)}}, nil
}
