package routing

import (
	"math/rand/v2"
	"time"
)

// defaultEarlyRefreshes are the delays after Start of the full routing-table
// refreshes a young node runs besides kad-dht's own, which comes at start and
// then every ten minutes (its default). Nodes that join at the same moment
// through the same bootstrap peers can each finish joining before the other
// is known there; they meet at the first of these refreshes instead of ten
// minutes later. (kad-dht used to be set to refresh every minute for this:
// such pairs met within 60 s. These two keep that bound, usually halve it,
// and then stop.)
var defaultEarlyRefreshes = []time.Duration{30 * time.Second, time.Minute}

// refreshJitter spreads each early refresh over ±this fraction of its delay,
// so that a network started at once does not refresh in lockstep.
const refreshJitter = 0.2

// earlyRefreshLoop runs the refreshes of cfg.earlyRefreshes, each a kad-dht
// lookup of this node and of a random key in every bucket, then ends.
func (m *Manager) earlyRefreshLoop() {
	start := time.Now()
	for _, delay := range m.cfg.earlyRefreshes {
		if !sleep(m.ctx, jitter(delay)-time.Since(start)) {
			return
		}
		select {
		case err := <-m.d.ForceRefresh():
			m.stats.refreshes.Add(1)
			if err != nil {
				m.logger.Debug("early routing-table refresh", "error", err)
			}
		case <-m.ctx.Done():
			return
		}
	}
}

// jitter returns d scaled by a random factor within 1 ± refreshJitter.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + refreshJitter*(2*rand.Float64()-1)))
}
