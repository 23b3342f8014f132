package routing

import (
	"context"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Resolver turns a multiaddr with a /dns, /dns4 or /dns6 name into IP
// multiaddrs. *madns.Resolver is one; Config.Resolver injects another.
type Resolver interface {
	Resolve(ctx context.Context, addr ma.Multiaddr) ([]ma.Multiaddr, error)
}

// dialable returns ai with the configured addresses of a bootstrap peer
// added and every DNS name looked up now, so that a peer that came back
// under its name with a new IP (a restarted container or pod) is dialled
// there. Go does not cache lookups: each call asks the system resolver
// (/etc/hosts, then the DNS servers of /etc/resolv.conf). Names that do not
// resolve are logged and left out; the peerstore's addresses are dialled too.
func (m *Manager) dialable(ctx context.Context, ai peer.AddrInfo) peer.AddrInfo {
	addrs := ai.Addrs
	if configured := m.configured[ai.ID]; len(configured) > 0 {
		addrs = append(slices.Clone(configured), addrs...)
	}
	var out []ma.Multiaddr
	seen := make(map[string]bool, len(addrs))
	add := func(list ...ma.Multiaddr) {
		for _, a := range list {
			if k := string(a.Bytes()); !seen[k] {
				seen[k] = true
				out = append(out, a)
			}
		}
	}
	for _, a := range addrs {
		if !isDNS(a) {
			add(a)
			continue
		}
		resolved, err := m.cfg.Resolver.Resolve(ctx, a)
		if err != nil || len(resolved) == 0 {
			m.logger.Debug("bootstrap address does not resolve", "peer", ai.ID, "addr", a, "error", err)
			continue
		}
		m.logger.Debug("resolved bootstrap address", "peer", ai.ID, "addr", a, "to", resolved)
		add(resolved...)
	}
	return peer.AddrInfo{ID: ai.ID, Addrs: out}
}

// isDNS reports whether a holds a host name to look up. A /dnsaddr is left
// to the swarm, which looks it up on every dial too and keeps only the TXT
// records of the peer it dials (a /dnsaddr name often lists several peers).
func isDNS(a ma.Multiaddr) bool {
	for _, c := range a {
		switch c.Code() {
		case ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
			return true
		}
	}
	return false
}
