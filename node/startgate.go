package node

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// startGate refuses every connection, in and out, until open is called,
// then defers to next (nil: allow all). The host listens before kad-dht
// and the routing manager are built, and the routing manager chains the
// routing table's callbacks after kad-dht has started adding peers to it
// (a data race on the callback fields, kad-dht notes §0.8): no peer can
// reach the table before every part of the node is in place.
type startGate struct {
	next   connmgr.ConnectionGater
	opened atomic.Bool
}

// open lets connections through from now on.
func (g *startGate) open() { g.opened.Store(true) }

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *startGate) InterceptPeerDial(p peer.ID) bool {
	return g.opened.Load() && (g.next == nil || g.next.InterceptPeerDial(p))
}

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *startGate) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.opened.Load() && (g.next == nil || g.next.InterceptAddrDial(p, a))
}

// InterceptAccept implements connmgr.ConnectionGater.
func (g *startGate) InterceptAccept(c network.ConnMultiaddrs) bool {
	return g.opened.Load() && (g.next == nil || g.next.InterceptAccept(c))
}

// InterceptSecured implements connmgr.ConnectionGater.
func (g *startGate) InterceptSecured(d network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return g.opened.Load() && (g.next == nil || g.next.InterceptSecured(d, p, c))
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *startGate) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if !g.opened.Load() {
		return false, 0
	}
	if g.next == nil {
		return true, 0
	}
	return g.next.InterceptUpgraded(c)
}
