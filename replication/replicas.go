package replication

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
)

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
		if !m.goTracked(func() {
			defer func() { done <- struct{}{} }()
			c, cancel := context.WithTimeout(ctx, m.cfg.RPCTimeout)
			defer cancel()
			r, err := m.tr.fetch(c, p, key)
			states[i].Err = err
			if r != nil {
				states[i].Version, states[i].Deleted = r.Version, r.Deleted
			}
		}) {
			states[i].Err = errClosed
			done <- struct{}{}
		}
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
