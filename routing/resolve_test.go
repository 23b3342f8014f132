package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	madns "github.com/multiformats/go-multiaddr-dns"
)

// A bootstrap address by name (/dns4/localhost/...) works: the node, alone
// at start, re-bootstraps through it.
func TestRebootstrapThroughDNSName(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	boot := newTestNode(t, nil, fastConfig())
	cfg := fastConfig()
	cfg.Bootstrap = []peer.AddrInfo{{ID: boot.id(), Addrs: []ma.Multiaddr{byName(t, boot, "/dns4/localhost")}}}
	x := newTestNode(t, nil, cfg)
	boot.m.Start()
	x.m.Start()
	waitFor(t, 10*time.Second, "x to bootstrap from /dns4/localhost", func() bool { return x.has(boot.id()) })
}

// Every re-bootstrap looks the name up again: the first answer is a stale
// address (a restarted container's old IP, here 127.0.0.2 where nothing
// listens), the later one the peer's address; the node must reach it.
func TestRebootstrapResolvesNameAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	boot := newTestNode(t, nil, fastConfig())
	dns := &switchingDNS{ip: net.ParseIP("127.0.0.2")}
	cfg := fastConfig()
	cfg.Resolver = newTestResolver(t, "seed.test.", dns)
	cfg.Bootstrap = []peer.AddrInfo{{ID: boot.id(), Addrs: []ma.Multiaddr{byName(t, boot, "/dns4/seed.test")}}}
	x := newTestNode(t, nil, cfg)
	boot.m.Start()
	x.m.Start()
	waitFor(t, 10*time.Second, "a failed re-bootstrap at the stale address", func() bool { return x.m.Stats().Rebootstraps >= 1 && dns.count() >= 1 })
	if x.has(boot.id()) {
		t.Fatal("reached the bootstrap peer through an address where it does not listen")
	}
	before := dns.count()
	dns.set(net.ParseIP("127.0.0.1"))
	waitFor(t, 15*time.Second, "x to re-bootstrap at the new address", func() bool { return x.has(boot.id()) })
	if dns.count() <= before {
		t.Fatalf("the name was looked up %d times, not again after the address changed", dns.count())
	}
	for _, c := range x.h.Network().ConnsToPeer(boot.id()) {
		if ip, _ := c.RemoteMultiaddr().ValueForProtocol(ma.P_IP4); ip != "127.0.0.1" {
			t.Errorf("connected to %s, want the new address 127.0.0.1", c.RemoteMultiaddr())
		}
	}
}

// dialable keeps IP addresses, adds a bootstrap peer's configured ones,
// replaces names by what they resolve to and leaves out names that do not.
func TestDialableResolvesConfiguredNames(t *testing.T) {
	id := peer.ID("bootstrap-peer")
	fixed := ma.StringCast("/ip4/10.0.0.9/tcp/4001")
	named := ma.StringCast("/dns4/seed.test/tcp/4001")
	unknown := ma.StringCast("/dns4/gone.test/tcp/4001")
	dnsaddr := ma.StringCast("/dnsaddr/seed.test")
	dns := &switchingDNS{ip: net.ParseIP("10.1.2.3"), only: "seed.test"}
	m := &Manager{
		cfg:        Config{Resolver: newTestResolver(t, "test.", dns)},
		logger:     slog.New(slog.DiscardHandler),
		configured: map[peer.ID][]ma.Multiaddr{id: {named, unknown}},
	}
	for _, tc := range []struct {
		name string
		in   peer.AddrInfo
		want []string
	}{
		{"bootstrap peer, no known address", peer.AddrInfo{ID: id}, []string{"/ip4/10.1.2.3/tcp/4001"}},
		{"bootstrap peer with a saved address", peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{fixed, fixed}},
			[]string{"/ip4/10.1.2.3/tcp/4001", "/ip4/10.0.0.9/tcp/4001"}},
		{"other peer", peer.AddrInfo{ID: "other", Addrs: []ma.Multiaddr{fixed}}, []string{"/ip4/10.0.0.9/tcp/4001"}},
		{"dnsaddr, left to the swarm", peer.AddrInfo{ID: "other", Addrs: []ma.Multiaddr{dnsaddr}}, []string{"/dnsaddr/seed.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.dialable(context.Background(), tc.in)
			if got.ID != tc.in.ID || fmt.Sprint(got.Addrs) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %s %v", got, tc.in.ID, tc.want)
			}
		})
	}
}

// byName is n's TCP address with its IP replaced by prefix (a /dns4 name).
func byName(t *testing.T, n *testNode, prefix string) ma.Multiaddr {
	t.Helper()
	for _, a := range n.h.Addrs() {
		if port, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			return ma.StringCast(prefix + "/tcp/" + port)
		}
	}
	t.Fatal("no TCP address")
	return nil
}

func newTestResolver(t *testing.T, domain string, r madns.BasicResolver) *madns.Resolver {
	t.Helper()
	res, err := madns.NewResolver(madns.WithDomainResolver(domain, r))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// switchingDNS answers every A lookup (of only, when set) with its current
// address and counts the lookups.
type switchingDNS struct {
	mu      sync.Mutex
	ip      net.IP
	only    string
	lookups int
}

func (d *switchingDNS) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.only != "" && name != d.only {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return []net.IPAddr{{IP: d.ip}}, nil
}

func (d *switchingDNS) LookupTXT(context.Context, string) ([]string, error) {
	return nil, errors.New("no TXT records here")
}

func (d *switchingDNS) set(ip net.IP) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ip = ip
}

func (d *switchingDNS) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}
