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
type Config struct {
	DataDir         string          `yaml:"data_dir"`
	Network         string          `yaml:"network"`
	Listen          []ma.Multiaddr  `yaml:"-"`
	Bootstrap       []peer.AddrInfo `yaml:"-"`
	API             API             `yaml:"api"`
	Replication     Replication     `yaml:"replication"`
	Routing         Routing         `yaml:"routing"`
	Storage         Storage         `yaml:"storage"`
	Security        Security        `yaml:"security"`
	ShutdownTimeout time.Duration   `yaml:"shutdown_timeout"`
	Log             Log             `yaml:"log"`
	// Ephemeral runs on an in-memory store with a fresh identity (never read from YAML).
	Ephemeral bool `yaml:"-"`
}

// API configures the HTTP API server.
type API struct {
	Listen string `yaml:"listen"` // host:port
	Token  string `yaml:"token"`  // required when Listen is not loopback
}

// Quorum is a read or write quorum: Majority (0) or a fixed count.
type Quorum int

// Majority means "more than half of the holders an operation found".
const Majority Quorum = 0

// Replication configures the record layer.
type Replication struct {
	Factor         int           `yaml:"factor"`
	WriteQuorum    Quorum        `yaml:"write_quorum"`
	ReadQuorum     Quorum        `yaml:"read_quorum"`
	RepairInterval time.Duration `yaml:"repair_interval"`
	MaxValueSize   int           `yaml:"max_value_size"`
}

// Routing configures routing-table size and liveness probing.
type Routing struct {
	BucketSize    int           `yaml:"bucket_size"`
	ProbeInterval time.Duration `yaml:"probe_interval"`
	ProbeFailures int           `yaml:"probe_failures"`
	MinPeers      int           `yaml:"min_peers"`
}

// Engine names a storage engine.
type Engine string

// Storage engines.
const (
	EnginePebble Engine = "pebble"
	EngineMemory Engine = "memory"
)

// Storage configures the record datastore.
type Storage struct {
	Engine Engine `yaml:"engine"`
	Sync   bool   `yaml:"sync"`
}

// Security configures network privacy.
type Security struct {
	PSKFile string `yaml:"psk_file"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}
