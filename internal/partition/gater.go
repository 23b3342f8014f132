// Package partition cuts libp2p hosts apart for tests: a connection gater
// that refuses connections to and from chosen peers.
package partition

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Gater refuses connections to and from blocked peers. Blocking does not
// close existing connections: the caller closes them (host.Network().ClosePeer).
type Gater struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool
}

// NewGater returns a gater that blocks nobody.
func NewGater() *Gater { return &Gater{blocked: make(map[peer.ID]bool)} }

// Set blocks or unblocks p.
func (g *Gater) Set(p peer.ID, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[p] = blocked
}

func (g *Gater) allowed(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.blocked[p]
}

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *Gater) InterceptPeerDial(p peer.ID) bool { return g.allowed(p) }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *Gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allowed(p) }

// InterceptAccept implements connmgr.ConnectionGater.
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured implements connmgr.ConnectionGater.
func (g *Gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p)
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
