package routing

import (
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Peers that left the routing table are re-dialled for rememberFor, at most
// maxDeparted of them (the most recent), so that both sides of a healed
// partition find each other again. kad-dht re-adds a peer to the table once
// a connection is up and identify shows the DHT protocol.
const (
	maxDeparted = 128
	rememberFor = 10 * time.Minute
	// maxRejoinBackoffFactor: the re-dial backoff starts at the probe
	// interval and doubles up to this many intervals (1 min at 5 s).
	maxRejoinBackoffFactor = 12
)

type departedPeer struct {
	addrs   []ma.Multiaddr
	since   time.Time     // when it left the table
	next    time.Time     // next dial
	backoff time.Duration // wait after the next dial
}

// departedSet remembers peers that left the routing table and schedules
// their re-dials. It takes the time as a parameter and is safe for
// concurrent use.
type departedSet struct {
	mu         sync.Mutex
	limit      int
	minBackoff time.Duration
	maxBackoff time.Duration
	peers      map[peer.ID]*departedPeer
}

func newDepartedSet(limit int, interval time.Duration) *departedSet {
	return &departedSet{
		limit:      limit,
		minBackoff: interval,
		maxBackoff: maxRejoinBackoffFactor * interval,
		peers:      make(map[peer.ID]*departedPeer),
	}
}

// add remembers p with its addresses; the first re-dial comes one minimum
// backoff later. A peer already remembered keeps its schedule and gets the
// new addresses if there are any. A peer without addresses cannot be dialled
// and is not remembered. When full, the peer that left earliest is dropped.
func (s *departedSet) add(p peer.ID, addrs []ma.Multiaddr, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.peers[p]; ok {
		if len(addrs) > 0 {
			d.addrs = slices.Clone(addrs)
		}
		return
	}
	if len(addrs) == 0 || s.limit <= 0 {
		return
	}
	if len(s.peers) >= s.limit {
		var oldest peer.ID
		for q, d := range s.peers {
			if oldest == "" || d.since.Before(s.peers[oldest].since) {
				oldest = q
			}
		}
		delete(s.peers, oldest)
	}
	s.peers[p] = &departedPeer{addrs: slices.Clone(addrs), since: now, next: now.Add(s.minBackoff), backoff: s.minBackoff}
}

// remove forgets p (it is back in the table).
func (s *departedSet) remove(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.peers, p)
}

// due returns the peers whose re-dial is due at now and schedules their next
// one with a doubled backoff. Peers that left more than rememberFor ago are
// forgotten.
func (s *departedSet) due(now time.Time) []peer.AddrInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []peer.AddrInfo
	for p, d := range s.peers {
		if now.Sub(d.since) > rememberFor {
			delete(s.peers, p)
			continue
		}
		if d.next.After(now) {
			continue
		}
		out = append(out, peer.AddrInfo{ID: p, Addrs: slices.Clone(d.addrs)})
		d.next = now.Add(d.backoff)
		d.backoff = nextBackoff(d.backoff, s.minBackoff, s.maxBackoff)
	}
	return out
}

// leftWithin reports whether p left the table less than d before now and
// has not come back.
func (s *departedSet) leftWithin(p peer.ID, d time.Duration, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	dp, ok := s.peers[p]
	return ok && now.Sub(dp.since) < d
}

func (s *departedSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// rejoinLoop re-dials departed peers when due.
func (m *Manager) rejoinLoop() {
	ticker := time.NewTicker(max(m.cfg.ProbeInterval/4, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-ticker.C:
		}
		due := m.rejoinable(m.departed.due(time.Now()))
		if len(due) == 0 {
			continue
		}
		n := m.connectAll(due)
		m.logger.Debug("re-dialled departed peers", "due", len(due), "connected", n, "remembered", m.departed.len())
	}
}

// rejoinable filters the due peers: a peer back in the table is forgotten,
// and one whose bucket has no room is left for later. kad-dht adds a peer
// when identify completes on a new connection, so a peer that is still
// connected (removed by kad-dht after a failed query, say) would never come
// back by itself: it is offered to the table directly, as a replaceable
// entry (the prober evicts it again if it is dead). Closing and redialling
// it instead would cost a handshake and break the RPCs in flight on it.
func (m *Manager) rejoinable(due []peer.AddrInfo) []peer.AddrInfo {
	out := due[:0]
	for _, ai := range due {
		switch {
		case m.members.has(ai.ID):
			m.departed.remove(ai.ID)
		case !m.rt.UsefulNewPeer(ai.ID):
		case m.h.Network().Connectedness(ai.ID) == network.Connected:
			if added, _ := m.rt.TryAddPeer(ai.ID, true, true); added {
				m.departed.remove(ai.ID)
			}
		default:
			out = append(out, ai)
		}
	}
	return out
}
