package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// Limits that Validate enforces, each with its reason.
const (
	// maxNetworkName keeps the DHT protocol ID short.
	maxNetworkName = 64
	// maxFactor bounds the fan-out of every write and read.
	maxFactor = 64
	// maxValueSizeLimit leaves headroom in a libp2p message (4 MiB) for the envelope and several records.
	maxValueSizeLimit = 1 << 20
	// maxBucketSize bounds routing-table buckets; kad-dht answers FIND_NODE with a bucket's worth of peers.
	maxBucketSize = 200
	// minRepairInterval stops repair sweeps from busy-looping.
	minRepairInterval = 100 * time.Millisecond
	// minProbeInterval stops liveness probes from flooding the network.
	minProbeInterval = 50 * time.Millisecond
)

// networkName is what a network name may contain: it becomes part of a protocol ID.
var networkName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidationError is one invalid value, named by its YAML path.
type ValidationError struct {
	// Source is where the value was set ("file.yaml:12", an environment
	// variable, a flag), when known: Sources.Locate fills it in.
	Source string
	Path   string // e.g. "replication.write_quorum"
	Reason string // e.g. "must be <= replication.factor (8)"
}

func (e *ValidationError) Error() string {
	if e.Source != "" {
		return e.Source + ": " + e.Path + ": " + e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Validate reports every invalid value in c, joined with errors.Join, each a
// *ValidationError. It does not change c. It reads the file system only to
// check that security.psk_file exists.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, path, format string, args ...any) {
		if !ok {
			errs = append(errs, &ValidationError{Path: path, Reason: fmt.Sprintf(format, args...)})
		}
	}

	switch {
	case c.Ephemeral:
	case c.DataDir == "":
		check(false, "data_dir", "must be set (or run ephemeral)")
	case hasUnexpandedHome(c.DataDir):
		check(false, "data_dir", "cannot expand ~ in %q: home directory unknown", c.DataDir)
	}
	if f := c.IdentityFile; f != "" {
		info, err := os.Stat(f)
		check(err == nil && info.Mode().IsRegular(), "identity_file", "%q must be an existing key file (dhtnode init --data-dir DIR writes one to DIR/identity.key)", f)
	}
	check(networkName.MatchString(c.Network) && len(c.Network) <= maxNetworkName, "network",
		"%q must be 1 to %d characters from A-Z, a-z, 0-9, '.', '_' and '-'", c.Network, maxNetworkName)

	check(len(c.Listen) > 0, "listen", "must hold at least one address")
	for i, a := range c.Listen {
		_, ok := listenQUIC(a)
		check(ok, fmt.Sprintf("listen[%d]", i), "%q must be TCP (/ip4/H/tcp/P) or QUIC-v1 (/ip4/H/udp/P/quic-v1) over ip4, ip6 or dns", a)
	}
	for i, ai := range c.Bootstrap {
		path := fmt.Sprintf("bootstrap[%d]", i)
		if err := ai.ID.Validate(); err != nil {
			check(false, path, "invalid peer ID: %v", err)
		}
		check(len(ai.Addrs) > 0, path, "peer %s has no address", ai.ID)
	}

	host, port, err := net.SplitHostPort(c.API.Listen)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	check(err == nil, "api.listen", "%q must be host:port with a port from 0 to 65535", c.API.Listen)
	check(err != nil || isLoopback(host) || c.API.Token != "" || c.API.TokenFile != "", "api.token",
		"must be set (or api.token_file) because api.listen %q is not a loopback address", c.API.Listen)
	if c.API.TokenFile != "" && c.API.Token == "" {
		_, err := c.API.BearerToken()
		check(err == nil, "api.token_file", "%v", err)
	}

	check(c.API.Token == "" || c.API.TokenFile == "", "api.token_file", "set api.token or api.token_file, not both")
	check(c.API.ReadTimeout > 0, "api.read_timeout", "%s must be positive", c.API.ReadTimeout)
	check(c.API.IdleTimeout > 0, "api.idle_timeout", "%s must be positive", c.API.IdleTimeout)
	check(c.API.RateLimit >= -1, "api.rate_limit", "%d must be -1 (off), 0 (automatic) or a positive rate", c.API.RateLimit)
	check(c.API.RateBurst >= 0, "api.rate_burst", "%d must not be negative", c.API.RateBurst)
	check(c.API.MaxConnections >= 1, "api.max_connections", "%d must be at least 1", c.API.MaxConnections)

	r := c.Replication
	check(r.Factor >= 1 && r.Factor <= maxFactor, "replication.factor", "%d must be from 1 to %d", r.Factor, maxFactor)
	for _, q := range []struct {
		path string
		q    Quorum
	}{{"replication.write_quorum", r.WriteQuorum}, {"replication.read_quorum", r.ReadQuorum}} {
		check(q.q >= 0, q.path, "must be majority or a positive count, not %d", q.q)
		check(int(q.q) <= r.Factor, q.path, "%s must be <= replication.factor (%d)", q.q, r.Factor)
	}
	check(r.RepairInterval >= minRepairInterval, "replication.repair_interval", "%s must be at least %s", r.RepairInterval, minRepairInterval)
	check(r.MaxValueSize >= 1 && r.MaxValueSize <= maxValueSizeLimit, "replication.max_value_size",
		"%d must be from 1 to %d (1 MiB)", r.MaxValueSize, maxValueSizeLimit)

	// A tombstone must outlive a few repair sweeps to reach every holder.
	check(r.TombstoneTTL >= 3*r.RepairInterval, "replication.tombstone_ttl", "%s must be at least 3 repair intervals (%s)", r.TombstoneTTL, 3*r.RepairInterval)
	check(c.Storage.MaxBytes >= 0, "storage.max_bytes", "%d must not be negative (0: no limit)", c.Storage.MaxBytes)

	rt := c.Routing
	check(rt.BucketSize >= r.Factor, "routing.bucket_size", "%d must be >= replication.factor (%d)", rt.BucketSize, r.Factor)
	check(rt.BucketSize <= maxBucketSize, "routing.bucket_size", "%d must be <= %d", rt.BucketSize, maxBucketSize)
	check(rt.ProbeInterval >= minProbeInterval, "routing.probe_interval", "%s must be at least %s", rt.ProbeInterval, minProbeInterval)
	check(rt.ProbeFailures >= 1, "routing.probe_failures", "%d must be at least 1", rt.ProbeFailures)
	check(rt.MinPeers >= 0, "routing.min_peers", "%d must not be negative", rt.MinPeers)

	switch c.Storage.Engine {
	case EngineLevelDB, EngineMemory:
	case EnginePebble:
		check(false, "storage.engine", "%q is no longer built in: use %s (the default) or %s",
			c.Storage.Engine, EngineLevelDB, EngineMemory)
	default:
		check(false, "storage.engine", "%q must be %s or %s", c.Storage.Engine, EngineLevelDB, EngineMemory)
	}

	if psk := c.Security.PSKFile; psk != "" {
		info, err := os.Stat(psk)
		check(err == nil && info.Mode().IsRegular(), "security.psk_file", "%q must be an existing file", psk)
		for i, a := range c.Listen {
			quic, _ := listenQUIC(a)
			check(!quic, fmt.Sprintf("listen[%d]", i), "%q is QUIC, which libp2p cannot secure with security.psk_file; use TCP", a)
		}
	}

	check(c.Limits.ConnsPerIP >= 1, "limits.conns_per_ip", "%d must be at least 1", c.Limits.ConnsPerIP)
	check(c.Limits.ConnRatePerIP >= 1, "limits.conn_rate_per_ip", "%d must be at least 1 (per minute)", c.Limits.ConnRatePerIP)

	check(c.ShutdownTimeout > 0, "shutdown_timeout", "%s must be positive", c.ShutdownTimeout)
	_, ok := parseLevel(c.Log.Level)
	check(ok, "log.level", "%q must be debug, info, warn or error", c.Log.Level)
	check(c.Log.Format == "text" || c.Log.Format == "json", "log.format", "%q must be text or json", c.Log.Format)
	return errors.Join(errs...)
}

// listenQUIC reports whether listen address a is QUIC-v1, and whether it is
// a valid listen address at all: TCP or QUIC-v1 over ip4, ip6 or dns.
func listenQUIC(a ma.Multiaddr) (quic, ok bool) {
	var codes []int
	for _, c := range a {
		codes = append(codes, c.Code())
	}
	if len(codes) < 2 {
		return false, false
	}
	switch codes[0] {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
	default:
		return false, false
	}
	switch rest := codes[1:]; {
	case len(rest) == 1 && rest[0] == ma.P_TCP:
		return false, true
	case len(rest) == 2 && rest[0] == ma.P_UDP && rest[1] == ma.P_QUIC_V1:
		return true, true
	}
	return false, false
}

// isLoopback reports whether an API host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
