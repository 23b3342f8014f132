package node

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestPreferTCPRanksTCPFirst(t *testing.T) {
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1"),
		ma.StringCast("/ip4/10.0.0.1/udp/4001/quic-v1"),
		ma.StringCast("/ip4/127.0.0.1/tcp/4001"),
		ma.StringCast("/ip4/127.0.0.1/tcp/4002/ws"),
	}
	ranked := preferTCP(addrs)
	if len(ranked) != len(addrs) {
		t.Fatalf("ranked %d addresses, want %d", len(ranked), len(addrs))
	}
	if got := ranked[0].Addr.String(); got != "/ip4/127.0.0.1/tcp/4001" || ranked[0].Delay != 0 {
		t.Fatalf("first dial = %s after %v, want the TCP address at once", got, ranked[0].Delay)
	}
	for _, d := range ranked[1:] {
		if d.Delay < quicFallbackDelay {
			t.Errorf("%s dialled after %v, want >= %v", d.Addr, d.Delay, quicFallbackDelay)
		}
	}
}

func TestPreferTCPWithoutTCPDialsAtOnce(t *testing.T) {
	ranked := preferTCP([]ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1")})
	if len(ranked) != 1 || ranked[0].Delay != 0 {
		t.Fatalf("ranked = %v, want the QUIC address at once", ranked)
	}
}
