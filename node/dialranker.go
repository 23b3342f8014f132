package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

// quicFallbackDelay is how long a dial waits on a peer's TCP addresses
// before it tries the others (QUIC).
const quicFallbackDelay = 500 * time.Millisecond

// preferTCP ranks a peer's addresses for dialling: TCP first, in libp2p's
// order, everything else after quicFallbackDelay. libp2p's default prefers
// QUIC. dhtnode prefers TCP because its long-lived connections are cheaper
// over it (the kernel acknowledges and retransmits; quic-go wakes the process
// for that; a 50-node idle network used 20 % less CPU over TCP), and because
// a crashed peer's TCP connections are reset at once, so its neighbours
// probe it right away instead of waiting for the probe schedule.
func preferTCP(addrs []ma.Multiaddr) []network.AddrDelay {
	var tcp, other []ma.Multiaddr
	for _, a := range addrs {
		if isTCP(a) {
			tcp = append(tcp, a)
		} else {
			other = append(other, a)
		}
	}
	ranked := swarm.DefaultDialRanker(tcp)
	offset := time.Duration(0)
	if len(tcp) > 0 {
		offset = ranked[len(ranked)-1].Delay + quicFallbackDelay
	}
	for _, d := range swarm.DefaultDialRanker(other) {
		d.Delay += offset
		ranked = append(ranked, d)
	}
	return ranked
}

// isTCP reports whether a is a plain TCP address (not a WebSocket or a relay).
func isTCP(a ma.Multiaddr) bool {
	tcp := false
	for _, c := range a {
		switch c.Protocol().Code {
		case ma.P_TCP:
			tcp = true
		case ma.P_WS, ma.P_WSS, ma.P_CIRCUIT, ma.P_TLS, ma.P_HTTP:
			return false
		}
	}
	return tcp
}
