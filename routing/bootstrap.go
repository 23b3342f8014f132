package routing

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// Re-bootstrap backoff: the first retry comes quickly (a restart race), later
// ones slow down so that a node alone in its network does not spin.
const (
	minBootBackoff = 500 * time.Millisecond
	maxBootBackoff = 30 * time.Second
)

// connectTimeout bounds one dial of a bootstrap, saved or departed peer.
const connectTimeout = 5 * time.Second

// maxConcurrentDials bounds the dials of one re-bootstrap or rejoin pass.
const maxConcurrentDials = 8

// bootstrapLoop re-bootstraps while the RT holds fewer than MinPeers peers.
// It checks at once (a restart with an empty table), on every removal that
// leaves the table short (bootKick) and every ProbeInterval.
func (m *Manager) bootstrapLoop() {
	ticker := time.NewTicker(m.cfg.ProbeInterval)
	defer ticker.Stop()
	backoff := time.Duration(0)
	for {
		if m.rt.Size() < m.cfg.MinPeers {
			m.rebootstrap()
			backoff = nextBackoff(backoff, minBootBackoff, maxBootBackoff)
			if !sleep(m.ctx, backoff) {
				return
			}
			continue
		}
		backoff = 0
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
		case <-m.bootKick:
		}
	}
}

// rebootstrap connects to the configured bootstrap peers and the saved
// peers, then asks kad-dht to refresh (which fills the table from them).
func (m *Manager) rebootstrap() {
	candidates := m.bootstrapCandidates()
	if len(candidates) == 0 {
		return
	}
	m.stats.rebootstraps.Add(1)
	connected := m.connectAll(candidates)
	m.logger.Info("re-bootstrapping", "rt_size", m.rt.Size(), "min_peers", m.cfg.MinPeers,
		"candidates", len(candidates), "connected", connected)
	if connected > 0 {
		_ = m.d.RefreshRoutingTable() // buffered reply; kad-dht also refreshes when peers are added
	}
}

// bootstrapCandidates merges the configured and saved peers, without self
// and duplicates (the configured addresses first).
func (m *Manager) bootstrapCandidates() []peer.AddrInfo {
	m.savedMu.Lock()
	saved := m.saved
	m.savedMu.Unlock()
	seen := map[peer.ID]bool{m.h.ID(): true}
	var out []peer.AddrInfo
	for _, list := range [][]peer.AddrInfo{m.cfg.Bootstrap, saved} {
		for _, ai := range list {
			if ai.ID == "" || seen[ai.ID] {
				continue
			}
			seen[ai.ID] = true
			out = append(out, ai)
		}
	}
	return out
}

// connectAll dials the peers, at most maxConcurrentDials at a time, and
// returns how many are connected.
func (m *Manager) connectAll(peers []peer.AddrInfo) int {
	var (
		mu        sync.Mutex
		connected int
		wg        sync.WaitGroup
		sem       = make(chan struct{}, maxConcurrentDials)
	)
	for _, ai := range peers {
		select {
		case sem <- struct{}{}:
		case <-m.ctx.Done():
			wg.Wait()
			return connected
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if m.connect(ai) == nil {
				mu.Lock()
				connected++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return connected
}

// connect dials ai (a bootstrap peer at its configured addresses too, with
// their names looked up again), skipping the swarm's dial backoff: these
// peers are retried on our own schedule, and a peer that just came back
// must not be refused for minutes because earlier dials failed.
func (m *Manager) connect(ai peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(m.ctx, connectTimeout)
	defer cancel()
	ai = m.dialable(ctx, ai)
	forgetDialFailures(m.h, ai.ID)
	err := m.h.Connect(ctx, ai)
	if err != nil {
		m.logger.Debug("connect failed", "peer", ai.ID, "error", err)
	}
	return err
}

// forgetDialFailures clears the swarm's dial backoff for p, so that a dial
// made now is not refused because earlier ones failed. (Not
// network.WithForceDirectDial, which skips the backoff too: go-libp2p
// v0.49.0 can dereference a nil transport on that path when the swarm
// closes during the dial.)
func forgetDialFailures(h host.Host, p peer.ID) {
	if sw, ok := h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(p)
	}
}
