package node

import (
	"math"
	"net/netip"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/x/rate"

	"github.com/dhtnode/dhtnode/config"
)

// loopback is never limited per address, as in go-libp2p: the processes
// of one machine are trusted (scripts/cluster.sh runs 50 nodes there).
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ipv6SitePrefix is the IPv6 prefix that counts as one address, as in
// go-libp2p: a /56 is what an ISP usually gives one site.
const ipv6SitePrefix = 56

// newResourceManager returns go-libp2p's resource manager with its default
// limits scaled to the machine's memory and file descriptors, and with the
// per-address limits of l in place of go-libp2p's (8 connections per IPv4
// address or IPv6 /56, a burst of 16 new ones then one per 5 s), which
// refuse the ninth peer behind a NAT. Addresses in unlimited are not
// limited per address at all.
func newResourceManager(l config.Limits, unlimited []netip.Prefix) (network.ResourceManager, error) {
	conns := []rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: l.ConnsPerIP}}
	conns6 := []rcmgr.ConnLimitPerSubnet{{PrefixLength: ipv6SitePrefix, ConnCount: l.ConnsPerIP}}
	perSecond := rate.Limit{RPS: float64(l.ConnRatePerIP) / time.Minute.Seconds(), Burst: l.ConnsPerIP}

	// Non-nil slices: go-libp2p keeps its own prefix list for a nil one.
	exempt4, exempt6 := []rcmgr.NetworkPrefixLimit{}, []rcmgr.NetworkPrefixLimit{}
	exemptRate := []rate.PrefixLimit{}
	for _, p := range unlimited {
		limit := rcmgr.NetworkPrefixLimit{Network: p, ConnCount: math.MaxInt}
		if p.Addr().Is6() {
			exempt6 = append(exempt6, limit)
		} else {
			exempt4 = append(exempt4, limit)
		}
		exemptRate = append(exemptRate, rate.PrefixLimit{Prefix: p}) // a zero limit is no limit
	}
	connRate := &rate.Limiter{
		NetworkPrefixLimits: exemptRate,
		SubnetRateLimiter: rate.SubnetLimiter{
			IPv4SubnetLimits: []rate.SubnetLimit{{PrefixLength: 32, Limit: perSecond}},
			IPv6SubnetLimits: []rate.SubnetLimit{{PrefixLength: ipv6SitePrefix, Limit: perSecond}},
			GracePeriod:      time.Minute, // how long an idle address's bucket is kept, as in go-libp2p
		},
	}
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(rcmgr.DefaultLimits.AutoScale()),
		rcmgr.WithNetworkPrefixLimit(exempt4, exempt6),
		rcmgr.WithLimitPerSubnet(conns, conns6),
		rcmgr.WithConnRateLimiters(connRate),
	)
}
