package replication

import (
	"context"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Owned keys. A key of the form "@<peer ID>/<name>" belongs to the key
// pair behind that peer ID: holders store a record of it (a value or a
// tombstone) only if the record's Writer is that peer ID, and the
// signature, which Validator.check verifies against the public key the
// Writer embeds, then proves the owner signed it. Whichever node forwards
// the record cannot alter it: the signature covers every field. Every
// other key is open: any writer may replace it.
//
// A key that starts with "@" is reserved for owned namespaces: it must
// name a peer ID in its canonical (base58) text form, and a non-empty name
// after the "/". Reads are open for every key.

// ownerPrefix starts every owned key.
const ownerPrefix = "@"

// Owner returns the peer ID that owns key and true for an owned key, or ""
// and false for an open one. A key that starts with "@" but is not
// "@<canonical peer ID>/<name>" is an ErrInvalidKey.
func Owner(key string) (peer.ID, bool, error) {
	rest, ok := strings.CutPrefix(key, ownerPrefix)
	if !ok {
		return "", false, nil
	}
	idText, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return "", false, fmt.Errorf("%w: a key starting with %q must be %s<peer ID>/<name>", ErrInvalidKey, ownerPrefix, ownerPrefix)
	}
	id, err := peer.Decode(idText)
	if err != nil || id.String() != idText {
		return "", false, fmt.Errorf("%w: %q is not a peer ID in its canonical form", ErrInvalidKey, idText)
	}
	return id, true, nil
}

// keepsForever reports whether a holder keeps the last record of key
// however old: for an owned key, an expired record or a tombstone is never
// dropped, so that its versions only grow (the owner's next write builds
// on it) and an older record of the owner's cannot be replayed over it.
func keepsForever(key string) bool {
	_, owned, err := Owner(key)
	return owned && err == nil
}

// checkOwner refuses a record of an owned key that its owner did not
// write; the signature check that follows proves the writer signed it.
func checkOwner(r *Record) error {
	owner, owned, err := Owner(r.Key)
	switch {
	case err != nil:
		return err
	case owned && r.Writer != owner:
		return fmt.Errorf("%w: %q belongs to %s, the record was written by %s", ErrForbidden, r.Key, owner, r.Writer)
	}
	return nil
}

// checkOwnWrite is the writer's pre-check of a write this node signs with
// its own identity: an owned key must be in this node's namespace.
func (m *Manager) checkOwnWrite(key string) error {
	owner, owned, err := Owner(key)
	switch {
	case err != nil:
		return err
	case owned && owner != m.self:
		return fmt.Errorf("%w: %q belongs to %s; this node (%s) can write only %s%s/...; sign the record with the owner's key instead",
			ErrForbidden, key, owner, m.self, ownerPrefix, m.self)
	}
	return nil
}

// PutRecord replicates a record that its writer signed elsewhere (a client
// holding its own key) exactly as it is, with the usual quorum rules: it
// reads the key from R holders, refuses a record that is not newer than
// what they have (ErrVersionConflict, as does a compare-and-set mismatch
// of o.IfVersion) and waits for W holders to store it. o.TTL is ignored:
// the expiry is a signed field of the record. The record is validated in
// full first: size, expiry, owner (ErrForbidden) and signature.
func (m *Manager) PutRecord(ctx context.Context, rec *Record, o WriteOptions) (WriteResult, error) {
	if err := ValidateKey(rec.Key); err != nil {
		return WriteResult{}, err
	}
	if rec.Version == 0 {
		return WriteResult{}, fmt.Errorf("%w: version 0; the first version of a key is 1", ErrMalformed)
	}
	if err := m.valid.check(rec); err != nil {
		return WriteResult{}, err
	}
	w, cur, err := m.readForWrite(ctx, rec, o)
	if err != nil {
		return WriteResult{}, err
	}
	if err := checkIfVersion(cur, o, m.valid.now()); err != nil {
		return WriteResult{Version: versionOf(cur)}, err
	}
	if cur != nil && rec.Compare(cur) < 0 {
		return WriteResult{Version: cur.Version}, fmt.Errorf("%w: the key is at version %d; a new record needs version %d", ErrVersionConflict, cur.Version, cur.Version+1)
	}
	return m.send(ctx, rec, w, o.IfVersion != nil)
}

// Current returns the winning record of key among R holder answers as it
// is, tombstone or expired record included, or nil when no holder has one:
// what a client signing its own records builds the next version on.
func (m *Manager) Current(ctx context.Context, key string, r int) (*Record, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	c := m.router.candidates(DHTKey(key), m.cfg.Factor)
	need, err := m.need("r", r, m.cfg.ReadQuorum, len(c.window()))
	if err != nil {
		return nil, err
	}
	return m.read(ctx, key, c, need)
}
