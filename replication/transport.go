package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// transport reads and writes one holder's copy of a record over the record
// protocol (rpc.go). This node is a holder like any other: its copy is the
// local store.
type transport struct {
	self   peer.ID
	store  *Store
	client *rpcClient
	bad    atomic.Uint64 // answers carrying a record that failed validation, or malformed
	box    *penaltyBox   // peers that answered badly; nil in unit tests
	// syncProto is the sync protocol's ID (sync.go).
	syncProto protocol.ID
}

// misbehaved counts a bad answer from p and leaves p out for a while.
func (t *transport) misbehaved(p peer.ID) {
	t.bad.Add(1)
	if t.box != nil && p != t.self {
		t.box.add(p)
	}
}

// badAnswers returns the bad answers counted so far.
func (t *transport) badAnswers() uint64 { return t.bad.Load() }

// verify passes p's answer r through unless it fails validation (expiry
// aside); then the answer counts as bad and as a failed request, so that
// it influences no read, write or repair.
func (t *transport) verify(p peer.ID, r *Record) (*Record, error) {
	if err := t.store.valid.checkAnswer(r); err != nil {
		t.misbehaved(p)
		return nil, fmt.Errorf("%w from %s: %w", errBadAnswer, p.ShortString(), err)
	}
	return r, nil
}

// close closes the pooled streams.
func (t *transport) close() { t.client.close() }

// fetch returns p's copy of the key, or nil if p has none. A remote copy
// is verified (verify); the local one was when it was stored.
func (t *transport) fetch(ctx context.Context, p peer.ID, key string) (*Record, error) {
	return t.get(ctx, p, key, opGet)
}

// read is fetch asked of p as one of the key's holders: a non-holder
// answers with an *errNotHolder naming the peers it knows nearer the key.
func (t *transport) read(ctx context.Context, p peer.ID, key string) (*Record, error) {
	return t.get(ctx, p, key, opRead)
}

func (t *transport) get(ctx context.Context, p peer.ID, key string, op byte) (*Record, error) {
	if p == t.self {
		return t.store.Get(ctx, key)
	}
	answer, err := t.client.call(ctx, p, encodeRequest(op, key, nil))
	switch {
	case err != nil:
	case answer[0] == statusNotHolder:
		return nil, t.notHolder(p, answer)
	case answer[0] == statusNotFound:
		return nil, nil
	case answer[0] == statusOK:
		var r *Record
		if r, err = Unmarshal(key, answer[1:]); err == nil {
			return t.verify(p, r)
		}
		t.misbehaved(p)
	default:
		err = t.answerError(p, answer)
	}
	return nil, fmt.Errorf("fetch %q from %s: %w", key, p.ShortString(), err)
}

// push stores r on p. p refuses (an error) if it holds a newer version.
func (t *transport) push(ctx context.Context, p peer.ID, r *Record) error {
	return t.put(ctx, p, r, opPut)
}

// write is push asked of p as one of the key's holders: a non-holder
// stores nothing and answers with an *errNotHolder.
func (t *transport) write(ctx context.Context, p peer.ID, r *Record) error {
	return t.put(ctx, p, r, opWrite)
}

func (t *transport) put(ctx context.Context, p peer.ID, r *Record, op byte) error {
	if p == t.self {
		stored, err := t.store.Put(ctx, r) // an identical record is stored again
		if err == nil && !stored {
			return fmt.Errorf("store %q v%d locally: a newer version is stored", r.Key, r.Version)
		}
		return err
	}
	answer, err := t.client.call(ctx, p, encodeRecordRequest(op, r))
	switch {
	case err != nil:
	case answer[0] == statusNotHolder:
		return t.notHolder(p, answer)
	case answer[0] != statusOK:
		err = t.answerError(p, answer)
	}
	if err != nil {
		return fmt.Errorf("push %q v%d to %s: %w", r.Key, r.Version, p.ShortString(), err)
	}
	return nil
}

// conditional asks p to store r only if p has no record of its key
// (opCreate) or only a lower version of it (opSwap). It returns the record
// p has instead, if any.
func (t *transport) conditional(ctx context.Context, p peer.ID, r *Record, op byte) (*Record, error) {
	var have []byte
	var err error
	if p == t.self {
		have, err = t.store.conditional(ctx, r, op)
	} else {
		have, err = t.conditionalAt(ctx, p, r, op)
	}
	return t.conditionalResult(p, r, have, err)
}

// errNotServed is the outcome of a request in a batch that the holder
// served but whose answer did not fit in the batch's.
var errNotServed = errors.New("answer left out of a full batch")

// createMany is conditional(ctx, p, r, opCreate) for each of recs: to a
// remote p as batches of up to maxBatch requests within the message limit
// (rpcbatch.go), one at a time, all within ctx; to this node itself as one
// Store.CreateBatch.
func (t *transport) createMany(ctx context.Context, p peer.ID, recs []*Record) ([]*Record, []error) {
	have, errs := make([]*Record, len(recs)), make([]error, len(recs))
	if p == t.self { // this node's own copies, in one datastore write
		for i, res := range t.store.CreateBatch(ctx, recs) {
			have[i], errs[i] = t.conditionalResult(p, recs[i], res.existing, res.err)
		}
		return have, errs
	}
	for start := 0; start < len(recs); {
		reqs, size := make([][]byte, 0, min(maxBatch, len(recs)-start)), batchHead
		for start+len(reqs) < len(recs) && len(reqs) < maxBatch {
			req := encodeRecordRequest(opCreate, recs[start+len(reqs)])
			if len(reqs) > 0 && size+batchItemSize(len(req)) > t.client.limit {
				break
			}
			reqs, size = append(reqs, req), size+batchItemSize(len(req))
		}
		var answers [][]byte
		var err error
		if len(reqs) == 1 {
			var a []byte
			a, err = t.client.callAlone(ctx, p, reqs[0])
			answers = [][]byte{a}
		} else {
			answers, err = t.client.callBatch(ctx, p, reqs)
		}
		for j := range reqs {
			i := start + j
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("conditional write of %q at %s: %w", recs[i].Key, p.ShortString(), err)
			case len(answers[j]) == 0:
				errs[i] = errNotServed
			default:
				var b []byte
				b, errs[i] = t.decodeConditionalAnswer(p, answers[j])
				have[i], errs[i] = t.conditionalResult(p, recs[i], b, errs[i])
			}
		}
		start += len(reqs)
	}
	return have, errs
}

// conditionalResult is conditional's outcome of p's answer to a
// conditional write of r: have, the record p has (nil: it stored r), or
// err.
func (t *transport) conditionalResult(p peer.ID, r *Record, have []byte, err error) (*Record, error) {
	var nh *errNotHolder
	switch {
	case errors.As(err, &nh):
		return nil, err
	case err == nil && have == nil:
		return nil, nil
	case err == nil:
		var rec *Record
		if rec, err = Unmarshal(r.Key, have); err == nil {
			if p == t.self {
				return rec, nil
			}
			return t.verify(p, rec)
		}
		if p != t.self {
			t.misbehaved(p)
		}
	}
	return nil, fmt.Errorf("conditional write of %q at %s: %w", r.Key, p.ShortString(), err)
}

// conditionalAt sends a CREATE or SWAP to p and returns the record p has
// instead of r, if any.
func (t *transport) conditionalAt(ctx context.Context, p peer.ID, r *Record, op byte) ([]byte, error) {
	answer, err := t.client.call(ctx, p, encodeRecordRequest(op, r))
	if err != nil {
		return nil, err
	}
	return t.decodeConditionalAnswer(p, answer)
}

// decodeConditionalAnswer decodes p's answer to a CREATE or SWAP: nil when p
// stored the record, else the record p has or an error.
func (t *transport) decodeConditionalAnswer(p peer.ID, answer []byte) ([]byte, error) {
	switch {
	case answer[0] == statusOK:
		return nil, nil
	case answer[0] == statusExists:
		return answer[1:], nil
	case answer[0] == statusNotHolder:
		return nil, t.notHolder(p, answer)
	}
	return nil, t.answerError(p, answer)
}

// notHolder decodes p's referral, learning the addresses it gives.
func (t *transport) notHolder(p peer.ID, answer []byte) error {
	infos, err := decodeReferral(answer[1:])
	if err != nil {
		t.misbehaved(p)
		return fmt.Errorf("%s answered with a bad referral: %w", p.ShortString(), err)
	}
	return &errNotHolder{peer: p, nearer: learnReferral(t.client.h.Peerstore(), t.self, infos)}
}

// errStale is a holder's answer to a push when it stores a record at least
// as new.
var errStale = errors.New("a newer version is stored")

// answerError turns p's non-OK answer into an error; one that makes no
// sense for the request is a bad answer.
func (t *transport) answerError(p peer.ID, answer []byte) error {
	switch answer[0] {
	case statusStale:
		return errStale
	case statusBusy: // p is protecting itself from this node (peerlimit.go)
		return errBusy
	case statusSetAside: // p has not settled its copy yet (stale.go)
		return errSetAside
	case statusInvalid, statusFailed:
		if bytes.Contains(answer[1:], []byte(ErrForbidden.Error())) { // the holder's validator refused it (owner.go)
			return fmt.Errorf("holder refused: %w (%.200q)", ErrForbidden, answer[1:])
		}
		if bytes.Contains(answer[1:], []byte(ErrStorageFull.Error())) { // the holder is at its storage limit (quota.go)
			return fmt.Errorf("holder refused: %w (%.200q)", ErrStorageFull, answer[1:])
		}
		return fmt.Errorf("holder refused: %.200q", answer[1:])
	}
	t.misbehaved(p)
	return fmt.Errorf("%w: unexpected answer status %d", errBadAnswer, answer[0])
}
