// Package config defines dhtnode's configuration: its shape, its defaults,
// how it is loaded from YAML and the environment, and how it is validated.
package config

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Config is the whole configuration of one dhtnode daemon. Load returns it
// with defaults filled in; Validate reports every invalid value by its YAML path.
//
// The yaml tags are the single list of keys: Load, Set, ApplyEnv and the
// config.yaml template all walk them by reflection, and each doc tag is the
// key's one-line comment in the template.
type Config struct {
	DataDir         string          `yaml:"data_dir" doc:"directory for identity.key, the datastore and saved peers; ~ is your home"`
	IdentityFile    string          `yaml:"identity_file" doc:"private key file (DIR/identity.key of dhtnode init --data-dir DIR), read only, e.g. a mounted Secret; empty: <data_dir>/identity.key, created on first start"`
	Network         string          `yaml:"network" doc:"network name; only peers with the same name (DHT protocol /dhtnode/<network>/kad/1.0.0) talk"`
	Listen          []ma.Multiaddr  `yaml:"listen" doc:"libp2p listen multiaddrs (TCP or QUIC-v1 over ip4, ip6 or dns)"`
	Bootstrap       []peer.AddrInfo `yaml:"bootstrap" doc:"peers to join through, as multiaddrs ending in /p2p/<peer id>"`
	API             API             `yaml:"api" doc:"HTTP API and dashboard"`
	Replication     Replication     `yaml:"replication" doc:"record placement, quorums and repair"`
	Routing         Routing         `yaml:"routing" doc:"routing table and peer liveness"`
	Storage         Storage         `yaml:"storage" doc:"record datastore"`
	Security        Security        `yaml:"security" doc:"network privacy"`
	Limits          Limits          `yaml:"limits" doc:"connection limits per source address"`
	ShutdownTimeout time.Duration   `yaml:"shutdown_timeout" doc:"how long a stopping node may spend handing its records over"`
	Log             Log             `yaml:"log" doc:"logging"`
	// Ephemeral runs on an in-memory store with a fresh identity (never read from YAML).
	Ephemeral bool `yaml:"-"`
}

// API configures the HTTP API server.
type API struct {
	Listen    string `yaml:"listen" doc:"host:port of the HTTP API; a non-loopback host needs a token"`
	Token     string `yaml:"token" doc:"bearer token every route but /healthz and /readyz requires when set"`
	TokenFile string `yaml:"token_file" doc:"file whose first line is the bearer token, instead of token: kept out of ps, shell history and this file"`
	// ReadTimeout, IdleTimeout and MaxConnections bound what HTTP clients
	// can hold, so the API cannot take the file descriptors libp2p needs.
	ReadTimeout    time.Duration `yaml:"read_timeout" doc:"longest a client may take to send one request, headers and body"`
	IdleTimeout    time.Duration `yaml:"idle_timeout" doc:"an idle keep-alive connection is closed after this"`
	MaxConnections int           `yaml:"max_connections" doc:"open API connections at most; more wait in the kernel's queue"`
	// RateLimit and RateBurst bound the requests of one client IP address
	// (APIRateLimit gives the limit in force).
	RateLimit int `yaml:"rate_limit" doc:"requests per second one client IP may make, then 429; 0: off on a loopback listen address, 500 elsewhere; -1: off"`
	RateBurst int `yaml:"rate_burst" doc:"requests one client IP may make at once above rate_limit; 0: twice rate_limit"`
	// Pprof serves net/http/pprof, for profiling a node under load.
	Pprof bool `yaml:"pprof" doc:"serve Go's CPU, heap and goroutine profiles under /debug/pprof/ (token required when set); off by default"`
}

// Quorum is a read or write quorum: Majority (0) or a fixed count.
type Quorum int

// Majority means "more than half of the holders an operation found".
const Majority Quorum = 0

// Replication configures the record layer.
type Replication struct {
	Factor         int           `yaml:"factor" doc:"holders per key (k): the k closest live peers keep a copy"`
	WriteQuorum    Quorum        `yaml:"write_quorum" doc:"holder acks a write needs: majority or a count"`
	ReadQuorum     Quorum        `yaml:"read_quorum" doc:"holder answers a read waits for: majority or a count"`
	RepairInterval time.Duration `yaml:"repair_interval" doc:"how soon lost copies are restored; also the period of the repair sweep"`
	MaxValueSize   int           `yaml:"max_value_size" doc:"largest value in bytes (at most 1 MiB)"`
	TombstoneTTL   time.Duration `yaml:"tombstone_ttl" doc:"how long a delete's tombstone is kept; a node down longer syncs before it pushes its records"`
}

// Routing configures routing-table size and liveness probing.
type Routing struct {
	BucketSize    int           `yaml:"bucket_size" doc:"peers per routing-table bucket; at least replication.factor"`
	ProbeInterval time.Duration `yaml:"probe_interval" doc:"time in which every routing-table peer is probed once"`
	ProbeFailures int           `yaml:"probe_failures" doc:"failed probes in a row that evict a peer"`
	MinPeers      int           `yaml:"min_peers" doc:"below this routing-table size the node bootstraps again"`
}

// Engine names a storage engine.
type Engine string

// Storage engines.
const (
	EngineLevelDB Engine = "leveldb"
	EngineMemory  Engine = "memory"
	// EnginePebble was the default engine of earlier versions; it is no
	// longer built in (it was a quarter of the binary, resident in every node).
	EnginePebble Engine = "pebble"
)

// Storage configures the record datastore.
type Storage struct {
	Engine Engine `yaml:"engine" doc:"leveldb (on disk under data_dir) or memory (lost on exit)"`
	Sync   bool   `yaml:"sync" doc:"fsync before acknowledging a write, so it survives power loss"`
	// MaxBytes caps the stored bytes of the records this node keeps.
	MaxBytes int `yaml:"max_bytes" doc:"stored record bytes at most; past it, records of new keys from peers are refused (0: no limit)"`
}

// Security configures network privacy.
type Security struct {
	PSKFile string `yaml:"psk_file" doc:"swarm.key file that makes the network private (TCP only); empty for none"`
}

// Limits configures the resource manager's connection limits per source
// address (IPv4 address, IPv6 /56). Loopback addresses are never limited.
// libp2p's own defaults (8 connections and a burst of 16 then one new
// connection per 5 s per address) are made for public networks; on a LAN,
// behind a NAT or a load balancer many peers share one address.
type Limits struct {
	ConnsPerIP    int `yaml:"conns_per_ip" doc:"open connections allowed from one IP address (IPv6: one /56); also the burst of new ones"`
	ConnRatePerIP int `yaml:"conn_rate_per_ip" doc:"new connections per minute allowed from one IP address once its burst is spent"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level" doc:"debug, info, warn or error"`
	Format string `yaml:"format" doc:"text or json"`
}
