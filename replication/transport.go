package replication

import (
	"context"
	"fmt"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// transport reads and writes one holder's copy of a record. This node is a
// holder like any other: its copy is the local store.
type transport struct {
	self  peer.ID
	store *Store
	pm    *pb.ProtocolMessenger
}

// fetch returns p's copy of the key, or nil if p has none. The record is
// decoded but not verified: callers verify the one they pick.
func (t *transport) fetch(ctx context.Context, p peer.ID, key string) (*Record, error) {
	if p == t.self {
		return t.store.Get(ctx, key)
	}
	rec, _, err := t.pm.GetValue(ctx, p, DHTKey(key))
	if err != nil {
		return nil, fmt.Errorf("fetch %q from %s: %w", key, p.ShortString(), err)
	}
	if rec == nil {
		return nil, nil
	}
	r, err := Unmarshal(key, rec.GetValue())
	if err != nil {
		return nil, fmt.Errorf("fetch %q from %s: %w", key, p.ShortString(), err)
	}
	return r, nil
}

// push stores r on p. p refuses (an error) if it holds a newer version.
func (t *transport) push(ctx context.Context, p peer.ID, r *Record) error {
	if p == t.self {
		stored, err := t.store.Put(ctx, r) // an identical record is stored again
		if err == nil && !stored {
			return fmt.Errorf("store %q v%d locally: a newer version is stored", r.Key, r.Version)
		}
		return err
	}
	if err := t.pm.PutValue(ctx, p, r.toPB()); err != nil {
		return fmt.Errorf("push %q v%d to %s: %w", r.Key, r.Version, p.ShortString(), err)
	}
	return nil
}
