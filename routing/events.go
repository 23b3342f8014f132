package routing

import (
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// EventKind says what happened to a routing-table peer.
type EventKind int

const (
	// PeerAdded: the peer entered the routing table.
	PeerAdded EventKind = iota + 1
	// PeerRemoved: the peer left the routing table (evicted by the prober or
	// removed by kad-dht).
	PeerRemoved
	// PeerRecovered: the peer, suspect after a failed probe (IsSuspect),
	// answered one again. Replication left it out while it was suspect
	// (a repair pass planned without it, writes skipped it), and takes it
	// back at this event: its table did not change, so no other event
	// would tell it.
	PeerRecovered
)

func (k EventKind) String() string {
	switch k {
	case PeerAdded:
		return "added"
	case PeerRemoved:
		return "removed"
	case PeerRecovered:
		return "recovered"
	default:
		return "unknown"
	}
}

// Event is one routing-table change, or a suspect's recovery.
type Event struct {
	Kind EventKind
	Peer peer.ID
}

// chainCallbacks hooks the RT's PeerAdded/PeerRemoved, keeping kad-dht's own
// functions (connection-manager tagging, low-peer repair), then seeds the
// member set with the peers list returns (the RT's ListPeers). The hooks
// run under the RT's lock: they update the member set and try a send.
// Hooking first and listing after means a peer that enters the table
// meanwhile is seen by the hook, the listing or both (the set dedupes), and
// a listed peer that leaves meanwhile is not seeded back (memberSet.seed).
func (m *Manager) chainCallbacks(list func() []peer.ID) {
	prevAdded, prevRemoved := m.rt.PeerAdded, m.rt.PeerRemoved
	m.members.beginSeed()
	m.rt.PeerAdded = func(p peer.ID) {
		if prevAdded != nil {
			prevAdded(p)
		}
		m.members.set(p, true)
		m.enqueue(Event{Kind: PeerAdded, Peer: p})
	}
	m.rt.PeerRemoved = func(p peer.ID) {
		if prevRemoved != nil {
			prevRemoved(p)
		}
		m.members.set(p, false)
		m.enqueue(Event{Kind: PeerRemoved, Peer: p})
	}
	m.members.seed(list())
}

// memberSet mirrors the RT's peers, kept by the RT callbacks, so that the
// prober can ask whether a peer is still in the table with a map lookup:
// kbucket's Find hashes the ID and sorts the whole table by distance to it.
type memberSet struct {
	mu    sync.RWMutex
	peers map[peer.ID]struct{}
	// left, while the set is being seeded, holds the peers the callbacks
	// removed since seeding began: a listing taken before their removal
	// must not add them back.
	left map[peer.ID]bool
}

func (s *memberSet) set(p peer.ID, in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.left != nil {
		s.left[p] = !in
	}
	if !in {
		delete(s.peers, p)
		return
	}
	if s.peers == nil {
		s.peers = make(map[peer.ID]struct{})
	}
	s.peers[p] = struct{}{}
}

// beginSeed starts remembering removals, for seed.
func (s *memberSet) beginSeed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left = make(map[peer.ID]bool)
}

// seed adds the listed peers, except those removed since beginSeed, and
// ends the seeding.
func (s *memberSet) seed(listed []peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = make(map[peer.ID]struct{})
	}
	for _, p := range listed {
		if !s.left[p] {
			s.peers[p] = struct{}{}
		}
	}
	s.left = nil
}

func (s *memberSet) has(p peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.peers[p]
	return ok
}

// enqueue never blocks: it is called with the RT lock held.
func (m *Manager) enqueue(ev Event) {
	if m.closed.Load() {
		return
	}
	select {
	case m.rtEvents <- ev:
	default:
		m.stats.dropped.Add(1)
	}
}

// Subscribe returns a channel of routing-table events (and recoveries)
// with buffer buf (at least 1) and a function that unsubscribes and closes
// the channel. A subscriber that falls behind loses events (counted in
// Stats.DroppedEvents); the routing table is never blocked. Close closes
// every subscriber channel.
func (m *Manager) Subscribe(buf int) (<-chan Event, func()) {
	ch := make(chan Event, max(buf, 1))
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	if m.subs == nil { // closed
		close(ch)
		return ch, func() {}
	}
	id := m.nextID
	m.nextID++
	m.subs[id] = ch
	return ch, func() {
		m.subsMu.Lock()
		defer m.subsMu.Unlock()
		if c, ok := m.subs[id]; ok {
			delete(m.subs, id)
			close(c)
		}
	}
}

func (m *Manager) publish(ev Event) {
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	for _, ch := range m.subs {
		select {
		case ch <- ev:
		default:
			m.stats.dropped.Add(1)
		}
	}
}

func (m *Manager) closeSubscribers() {
	m.subsMu.Lock()
	defer m.subsMu.Unlock()
	for _, ch := range m.subs {
		close(ch)
	}
	m.subs = nil
}

// eventLoop reacts to RT changes and fans them out to subscribers.
func (m *Manager) eventLoop() {
	for {
		select {
		case <-m.ctx.Done():
			return
		case ev := <-m.rtEvents:
			switch ev.Kind {
			case PeerAdded:
				m.departed.remove(ev.Peer)
			case PeerRemoved:
				// departed first: the peer stays doubted (IsDoubted).
				m.departed.add(ev.Peer, m.h.Peerstore().Addrs(ev.Peer), time.Now())
				m.forget(ev.Peer)
				if m.rt.Size() < m.cfg.MinPeers {
					kick(m.bootKick)
				}
			}
			m.publish(ev)
		}
	}
}
