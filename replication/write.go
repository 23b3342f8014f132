package replication

import (
	"context"
	"fmt"
	"time"
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
// result) when fewer acknowledged, ErrVersionConflict on an IfVersion mismatch,
// ErrForbidden for a key owned by another peer (owner.go).
// A plain put (no IfVersion) of a key that no holder has takes one round
// trip (create); any other write reads the key first.
func (m *Manager) Put(ctx context.Context, key string, value []byte, o WriteOptions) (WriteResult, error) {
	if err := m.checkOwnWrite(key); err != nil { // owner.go
		return WriteResult{}, err
	}
	rec := &Record{Key: key, Value: value}
	if o.IfVersion == nil {
		return m.create(ctx, rec, o)
	}
	return m.write(ctx, rec, o)
}

// Delete writes a tombstone for key, with the same rules as Put.
func (m *Manager) Delete(ctx context.Context, key string, o WriteOptions) (WriteResult, error) {
	if err := m.checkOwnWrite(key); err != nil { // owner.go
		return WriteResult{}, err
	}
	return m.write(ctx, &Record{Key: key, Deleted: true}, o)
}

// write reads the key's current record from R holders, then commits rec
// over it.
func (m *Manager) write(ctx context.Context, rec *Record, o WriteOptions) (WriteResult, error) {
	w, cur, err := m.readForWrite(ctx, rec, o)
	if err != nil {
		return WriteResult{}, err
	}
	return m.commit(ctx, rec, cur, w, o)
}

// writeRound is a write's holders as this node knows them (the window of
// c, found of them) and the answers it needs from them.
type writeRound struct {
	c                   *candidateSet
	found               int
	readNeed, writeNeed int
}

// prepareWrite checks rec's key and size and the request's quorums
// (writeQuorums), and returns the key's holders as this node knows them.
func (m *Manager) prepareWrite(rec *Record, o WriteOptions) (writeRound, error) {
	if err := ValidateKey(rec.Key); err != nil {
		return writeRound{}, err
	}
	if len(rec.Value) > m.valid.MaxValueSize {
		return writeRound{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(rec.Value), m.valid.MaxValueSize)
	}
	w := writeRound{c: m.router.candidates(DHTKey(rec.Key), m.cfg.Factor)}
	w.found = len(w.c.window())
	var err error
	w.readNeed, w.writeNeed, err = m.writeQuorums(o, w.found)
	return w, err
}

// readForWrite prepares a write of rec and reads the key's current record
// (nil if none) from R of its holders.
func (m *Manager) readForWrite(ctx context.Context, rec *Record, o WriteOptions) (writeRound, *Record, error) {
	w, err := m.prepareWrite(rec, o)
	if err != nil {
		return writeRound{}, nil, err
	}
	cur, err := m.read(ctx, rec.Key, w.c, w.readNeed)
	return w, cur, err
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

// commit writes rec over cur, the key's current record (nil if none): it
// checks IfVersion, stamps rec with the next version and sends it (send).
func (m *Manager) commit(ctx context.Context, rec, cur *Record, w writeRound, o WriteOptions) (WriteResult, error) {
	if err := checkIfVersion(cur, o, time.Now().UnixNano()); err != nil {
		return WriteResult{Version: versionOf(cur)}, err
	}
	if err := m.stamp(ctx, rec, cur, o); err != nil {
		return WriteResult{}, err
	}
	return m.send(ctx, rec, w, o.IfVersion != nil)
}

// send writes rec, signed, to the round's holders and waits for writeNeed
// of them to acknowledge; a compare-and-set (cas) goes on in commitCAS.
func (m *Manager) send(ctx context.Context, rec *Record, w writeRound, cas bool) (WriteResult, error) {
	res := WriteResult{Version: rec.Version, Needed: w.writeNeed, Replicas: w.found}
	if cas {
		return m.commitCAS(ctx, rec, w.c, res)
	}
	tally := newWriteTally(res.Needed, 0)
	m.replicate(ctx, rec, w.c, opWrite, tally)
	res.Acks, _ = tally.result()
	if res.Acks < res.Needed {
		return res, m.shortfall(res, w.found, nil)
	}
	return res, nil
}

// checkIfVersion returns ErrVersionConflict when o is a compare-and-set
// whose version cur, the key's current record, does not match.
func checkIfVersion(cur *Record, o WriteOptions, now int64) error {
	if o.IfVersion == nil || versionMatches(cur, *o.IfVersion, now) {
		return nil
	}
	return fmt.Errorf("%w: the key is at version %d, not %d", ErrVersionConflict, versionOf(cur), *o.IfVersion)
}

// versionOf returns r's version, 0 for none.
func versionOf(r *Record) uint64 {
	if r == nil {
		return 0
	}
	return r.Version
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
	if err := rec.Sign(m.priv); err != nil {
		return err
	}
	m.valid.verified.signed(rec) // this node's copy is stored without a check
	return nil
}

// versionMatches reports whether the current record satisfies a
// compare-and-set on want. Version 0 matches a key that has no live value.
func versionMatches(cur *Record, want uint64, now int64) bool {
	if cur == nil || !cur.Live(now) {
		return want == 0 || (cur != nil && cur.Version == want)
	}
	return cur.Version == want
}
