package replication

// TEMPORARY (i20b): until i20a's range sync lands, a range sync is a
// per-key audit, with p, of this node's records in the prefixes. Deleted at
// merge, where Manager.syncRanges is wired in as m.ranges.

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
)

type auditSyncer struct{ m *Manager }

func (a auditSyncer) syncRanges(ctx context.Context, p peer.ID, ps []prefix) (bool, error) {
	equal := true
	for _, q := range ps {
		lo, hi := q.bounds()
		var recs []*Record
		err := a.m.store.EachInRange(ctx, lo, hi, func(_ []byte, r *Record, _ int) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			return false, err
		}
		for _, r := range recs {
			if !a.m.audit(ctx, r, []peer.ID{a.m.self, p}) {
				equal = false
			}
		}
	}
	return equal, nil
}
