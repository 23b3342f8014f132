package replication

import (
	"fmt"
	"sync"
	"time"
)

// A node must not claim a majority it cannot know. The holders a read or
// write finds are the key's k nearest peers this node knows and believes
// alive; the holders it expects are min(k, the network it knows): its
// routing table, suspected peers included, plus itself — or, for
// rememberNetworkFor after the table shrank, the largest such network it
// saw, so that a node cut off from most of the network (a partition, the
// minority side) does not shrink its majorities to match. The rule:
//
//   - A request's own w or r is checked against k and the holders found,
//     and refused with ErrBadQuorum (400) before anything is sent when it
//     cannot be met. Then the node uses it as asked, even if it is not a
//     majority: the caller asked for less.
//   - Otherwise (a configured count or the default majority) a node whose
//     routing table is empty refuses (503): it knows of no other holder.
//     The default quorum is a majority of the holders expected, not of the
//     holders found, and an operation that found fewer holders than its
//     quorum fails with 503 before anything is sent.
//
// So with default quorums R + W exceeds the expected holders, and two
// sides of a partition cannot both acknowledge writes of a key while the
// smaller side remembers the network as it was.
const rememberNetworkFor = 10 * time.Minute

// netMemory remembers the largest network (routing-table peers plus this
// node) seen within rememberNetworkFor.
type netMemory struct {
	mu   sync.Mutex
	peak int
	at   time.Time // when peak was last seen
}

// observe notes the network size seen now and returns the size to expect.
func (n *netMemory) observe(size int, now time.Time) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if size >= n.peak || now.Sub(n.at) > rememberNetworkFor {
		n.peak, n.at = size, now
	}
	return n.peak
}

// expectedHolders returns how many holders a key has as far as this node
// can know, and the routing table's size.
func (m *Manager) expectedHolders() (expected, table int) {
	table = m.router.tableSize()
	return min(m.cfg.Factor, m.network.observe(table+1, time.Now())), table
}

// need returns the answers an operation needs from the found holders:
// request if set (a w or r of the request), else configured (a count from
// the configuration, 0 for the default majority). See the rule above.
func (m *Manager) need(what string, request, configured, found int) (int, error) {
	if request > 0 {
		switch {
		case request > m.cfg.Factor:
			return 0, fmt.Errorf("%w: %s=%d is more than the replication factor %d", ErrBadQuorum, what, request, m.cfg.Factor)
		case request > found:
			return 0, fmt.Errorf("%w: %s=%d but this node knows only %d holders of the key", ErrBadQuorum, what, request, found)
		}
		return request, nil
	}
	expected, table := m.expectedHolders()
	if table == 0 {
		return 0, fmt.Errorf("%w: this node knows no other peer, so it cannot know a majority of the key's holders (set %s to use fewer)", ErrInsufficientReplicas, what)
	}
	n := configured
	if n == 0 {
		n = expected/2 + 1
	}
	if n > found {
		return 0, fmt.Errorf("%w: found %d live holders of the key, %d needed (this node expects %d: k=%d, or the network it knows if smaller)",
			ErrInsufficientReplicas, found, n, expected, m.cfg.Factor)
	}
	return n, nil
}

// RememberNetwork tells the manager of a network of size nodes (this one
// included) that it knew before it started, such as its saved peers: until
// rememberNetworkFor passes, default quorums are majorities of it, so that a
// node restarted on the small side of a partition does not shrink its
// majorities to what it can see.
func (m *Manager) RememberNetwork(size int) {
	m.network.observe(size, time.Now())
}
