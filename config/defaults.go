package config

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// Shipped defaults (SPEC §4), each with the reason for its value.
const (
	// DefaultDataDir keeps a node's state per user and out of the working directory.
	DefaultDataDir = "~/.dhtnode"
	// DefaultNetwork is the name nodes share when nobody chose one.
	DefaultNetwork = "default"
	// DefaultListenTCP is reachable from every interface; TCP is the one transport that also works with a PSK.
	DefaultListenTCP = "/ip4/0.0.0.0/tcp/4001"
	// DefaultListenQUIC shares the TCP port number; QUIC dials faster than TCP where UDP passes.
	DefaultListenQUIC = "/ip4/0.0.0.0/udp/4001/quic-v1"
	// DefaultAPIListen is loopback only, so the API needs no token out of the box.
	DefaultAPIListen = "127.0.0.1:5001"
	// DefaultAPIReadTimeout lets a slow client send a 1 MiB value over a slow link, but not hold a connection forever.
	DefaultAPIReadTimeout = 30 * time.Second
	// DefaultAPIIdleTimeout keeps keep-alive connections for a client's next request, not for good.
	DefaultAPIIdleTimeout = 60 * time.Second
	// DefaultAPIMaxConnections leaves most of a default 1,024-descriptor limit to libp2p's connections and the datastore.
	DefaultAPIMaxConnections = 256
	// DefaultAPIRateLimit (500 requests a second per client IP) is well above
	// what one node serves one client (writes cost a quorum round trip each),
	// so it stops a runaway or hostile client, not a busy one; it applies when
	// the API listens beyond loopback and rate_limit is 0.
	DefaultAPIRateLimit = 500
	// DefaultReplicationFactor is Kademlia's usual k for values: eight copies outlive several failures per repair window.
	DefaultReplicationFactor = 8
	// DefaultWriteQuorum (majority) with a majority read quorum makes R + W exceed the holder count.
	DefaultWriteQuorum = Majority
	// DefaultReadQuorum (majority) lets a read see the latest acknowledged majority write.
	DefaultReadQuorum = Majority
	// DefaultRepairInterval bounds how long a key may stay under-replicated without costing much traffic.
	DefaultRepairInterval = 10 * time.Second
	// DefaultMaxValueSize (64 KiB) keeps a record and its envelope well inside one libp2p message.
	DefaultMaxValueSize = 64 << 10
	// DefaultBucketSize is kad-dht's k (20); it must be at least the replication factor.
	DefaultBucketSize = 20
	// DefaultProbeInterval notices a dead routing-table peer within seconds without flooding the network.
	DefaultProbeInterval = 5 * time.Second
	// DefaultProbeFailures tolerates one lost probe before a peer is evicted.
	DefaultProbeFailures = 2
	// DefaultMinPeers re-bootstraps only when the routing table is empty.
	DefaultMinPeers = 1
	// DefaultStorageEngine keeps records across restarts.
	DefaultStorageEngine = EngineLevelDB
	// DefaultStorageSync skips fsync: acknowledged writes survive a process crash, and other holders cover power loss.
	DefaultStorageSync = false
	// DefaultStorageMaxBytes (4 GiB of records) keeps a node on a small disk
	// or VM (LevelDB needs about as much again for compaction) from filling it.
	DefaultStorageMaxBytes = 4 << 30
	// DefaultTombstoneTTL keeps a delete's tombstone for a day: a holder down
	// for less still learns of the delete.
	DefaultTombstoneTTL = 24 * time.Hour
	// DefaultShutdownTimeout gives a leaving node time to hand its records over without hanging a deploy.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultConnsPerIP lets a 50-node LAN, or a few hundred peers behind one
	// NAT, hold a connection each (libp2p's own default is 8 per address).
	DefaultConnsPerIP = 256
	// DefaultConnRatePerIP (10 a second) lets peers behind one NAT all
	// reconnect within a minute after their burst (libp2p: 12 a minute).
	DefaultConnRatePerIP = 600
	// DefaultLogLevel logs lifecycle events and problems, not every request.
	DefaultLogLevel = "info"
	// DefaultLogFormat is for people reading a terminal; use json for log collectors.
	DefaultLogFormat = "text"
)

// Default returns the shipped configuration (SPEC §4), with "~" in the data
// directory expanded to the user's home when it is known.
func Default() Config {
	return Config{
		DataDir:   expandHome(DefaultDataDir),
		Network:   DefaultNetwork,
		Listen:    []ma.Multiaddr{ma.StringCast(DefaultListenTCP), ma.StringCast(DefaultListenQUIC)},
		Bootstrap: nil,
		API: API{
			Listen:         DefaultAPIListen,
			ReadTimeout:    DefaultAPIReadTimeout,
			IdleTimeout:    DefaultAPIIdleTimeout,
			MaxConnections: DefaultAPIMaxConnections,
		},
		Replication: Replication{
			Factor:         DefaultReplicationFactor,
			WriteQuorum:    DefaultWriteQuorum,
			ReadQuorum:     DefaultReadQuorum,
			RepairInterval: DefaultRepairInterval,
			MaxValueSize:   DefaultMaxValueSize,
			TombstoneTTL:   DefaultTombstoneTTL,
		},
		Routing: Routing{
			BucketSize:    DefaultBucketSize,
			ProbeInterval: DefaultProbeInterval,
			ProbeFailures: DefaultProbeFailures,
			MinPeers:      DefaultMinPeers,
		},
		Storage:         Storage{Engine: DefaultStorageEngine, Sync: DefaultStorageSync, MaxBytes: DefaultStorageMaxBytes},
		Limits:          Limits{ConnsPerIP: DefaultConnsPerIP, ConnRatePerIP: DefaultConnRatePerIP},
		ShutdownTimeout: DefaultShutdownTimeout,
		Log:             Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// expandHome replaces a leading "~" or "~/" with the user's home directory.
// Without a known home it returns p unchanged, and Validate reports it.
func expandHome(p string) string {
	if !hasUnexpandedHome(p) {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// hasUnexpandedHome reports whether p still starts with "~" as a home directory.
func hasUnexpandedHome(p string) bool {
	return p == "~" || strings.HasPrefix(p, "~/")
}

// APIRateLimit returns the per-client-IP request rate and burst the API
// enforces (rate 0: none): rate_limit when positive, none when -1, and when
// 0, none on a loopback listen address and DefaultAPIRateLimit elsewhere.
func (a API) APIRateLimit() (perSecond, burst int) {
	switch {
	case a.RateLimit > 0:
		perSecond = a.RateLimit
	case a.RateLimit == 0 && !listensOnLoopback(a.Listen):
		perSecond = DefaultAPIRateLimit
	default:
		return 0, 0
	}
	burst = a.RateBurst
	if burst == 0 {
		burst = 2 * perSecond
	}
	return perSecond, burst
}

// listensOnLoopback reports whether an API listen address (host:port) only
// accepts local connections.
func listensOnLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && isLoopback(host)
}
