package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestLoadFullFile(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	p1, p2 := testPeer(t, 1), testPeer(t, 2)
	path := writeFile(t, "config.yaml", `
data_dir: ~/nodes/a
network: lab-1
listen:
  - /ip4/127.0.0.1/tcp/4101
  - /ip6/::1/udp/4101/quic-v1
bootstrap:
  - /ip4/10.0.0.1/tcp/4001/p2p/`+p1.String()+`
  - /dns4/seed.example/tcp/4001/p2p/`+p2.String()+`
  - /ip4/10.0.0.1/udp/4001/quic-v1/p2p/`+p1.String()+`
api:
  listen: 0.0.0.0:8080
  token: s3cret
  token_file: ""
  read_timeout: 5s
  idle_timeout: 2m
  max_connections: 64
  rate_limit: 50
  rate_burst: 7
replication:
  factor: 5
  write_quorum: 3
  read_quorum: majority
  repair_interval: 1m30s
  max_value_size: 1024
  tombstone_ttl: 1h
routing:
  bucket_size: 16
  probe_interval: 250ms
  probe_failures: 3
  min_peers: 0
storage:
  engine: memory
  sync: true
  max_bytes: 1000000
security:
  psk_file: ""
limits:
  conns_per_ip: 16
  conn_rate_per_ip: 60
shutdown_timeout: 3s
log:
  level: debug
  format: json
`)
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: "/home/tester/nodes/a",
		Network: "lab-1",
		Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4101"), ma.StringCast("/ip6/::1/udp/4101/quic-v1")},
		Bootstrap: []peer.AddrInfo{
			{ID: p1, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/4001"), ma.StringCast("/ip4/10.0.0.1/udp/4001/quic-v1")}},
			{ID: p2, Addrs: []ma.Multiaddr{ma.StringCast("/dns4/seed.example/tcp/4001")}},
		},
		API:             API{Listen: "0.0.0.0:8080", Token: "s3cret", ReadTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, MaxConnections: 64, RateLimit: 50, RateBurst: 7},
		Replication:     Replication{Factor: 5, WriteQuorum: 3, ReadQuorum: Majority, RepairInterval: 90 * time.Second, MaxValueSize: 1024, TombstoneTTL: time.Hour},
		Routing:         Routing{BucketSize: 16, ProbeInterval: 250 * time.Millisecond, ProbeFailures: 3, MinPeers: 0},
		Storage:         Storage{Engine: EngineMemory, Sync: true, MaxBytes: 1000000},
		Limits:          Limits{ConnsPerIP: 16, ConnRatePerIP: 60},
		ShutdownTimeout: 3 * time.Second,
		Log:             Log{Level: "debug", Format: "json"},
	}
	assertConfigEqual(t, got, want)
	if err := got.Validate(); err != nil {
		t.Errorf("full file does not validate: %v", err)
	}
}

func TestLoadPartialFilesKeepDefaults(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	for _, tc := range []struct {
		name, yaml string
		edit       func(*Config)
	}{
		{"empty file", "", func(*Config) {}},
		{"only comments", "# nothing here\n", func(*Config) {}},
		{"one key", "replication:\n  factor: 4\n", func(c *Config) { c.Replication.Factor = 4 }},
		{"empty section", "routing:\n", func(*Config) {}},
		{"null list empties it", "listen:\n", func(c *Config) { c.Listen = nil }},
		{"empty list", "listen: []\n", func(c *Config) { c.Listen = nil }},
		{"null string empties it", "api:\n  token: ~\n", func(*Config) {}},
		{"aliases", "x: &d 2s\nshutdown_timeout: *d\n", nil},
		{"anchored section", "log: &l {level: warn}\n", func(c *Config) { c.Log.Level = "warn" }},
		{"quoted duration", "shutdown_timeout: \"2s\"\n", func(c *Config) { c.ShutdownTimeout = 2 * time.Second }},
		{"integer quorum", "replication:\n  read_quorum: 2\n", func(c *Config) { c.Replication.ReadQuorum = 2 }},
		{"absolute data_dir", "data_dir: /srv/dht\n", func(c *Config) { c.DataDir = "/srv/dht" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(writeFile(t, "config.yaml", tc.yaml))
			if tc.edit == nil {
				wantErrContains(t, err, "x: unknown key")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			tc.edit(&want)
			assertConfigEqual(t, got, want)
		})
	}
}

func TestLoadRejects(t *testing.T) {
	peerID := testPeer(t, 1).String()
	for _, tc := range []struct {
		name, yaml string
		want       []string // every part must appear in the error text
	}{
		{"unknown top-level key", "netwrok: x\n", []string{"config.yaml:1: netwrok: unknown key", "network"}},
		{"unknown nested key", "log:\n  level: info\n  colour: true\n", []string{":3: log.colour: unknown key (known in log: level, format)"}},
		{"unknown key in section shaped as scalar", "api: 127.0.0.1:5001\n", []string{":1: api: want a mapping of keys, got the string \"127.0.0.1:5001\""}},
		{"key below a leaf", "replication:\n  factor:\n    value: 3\n", []string{":3: replication.factor: want a single value, got a mapping"}},
		{"duplicate key", "network: a\nnetwork: b\n", []string{":2: network: duplicate key (first set on line 1)"}},
		{"top level is a list", "- a\n- b\n", []string{":1: (top level): want a mapping of keys, got a list"}},
		{"top level is a scalar", "hello\n", []string{"(top level): want a mapping"}},
		{"non-scalar key", "? [a, b]\n: c\n", []string{"want a key name, got a list"}},
		{"string for integer", "replication:\n  factor: eight\n", []string{":2: replication.factor: want an integer, got the string \"eight\""}},
		{"quoted integer", "replication:\n  factor: \"8\"\n", []string{":2: replication.factor: want an integer, got the string \"8\""}},
		{"float for integer", "routing:\n  bucket_size: 2.5\n", []string{"routing.bucket_size: want an integer, got the number \"2.5\""}},
		{"huge integer", "replication:\n  max_value_size: 99999999999999999999999\n", []string{"replication.max_value_size", "99999999999999999999999"}},
		{"missing integer", "replication:\n  factor:\n", []string{":2: replication.factor: missing value"}},
		{"string for bool", "storage:\n  sync: yes\n", []string{"storage.sync: want true or false, got the string \"yes\""}},
		{"list for string", "network: [a]\n", []string{":1: network: want a single value, got a list"}},
		{"duration without unit", "shutdown_timeout: 10\n", []string{":1: shutdown_timeout: \"10\" is not a duration"}},
		{"bad duration", "routing:\n  probe_interval: soon\n", []string{"routing.probe_interval: \"soon\" is not a duration"}},
		{"quorum zero", "replication:\n  write_quorum: 0\n", []string{"replication.write_quorum: \"0\" is not \"majority\" or a positive integer"}},
		{"quorum negative", "replication:\n  read_quorum: -2\n", []string{"replication.read_quorum: \"-2\" is not \"majority\""}},
		{"quorum word", "replication:\n  read_quorum: all\n", []string{"replication.read_quorum: \"all\" is not \"majority\""}},
		{"quorum capitalised", "replication:\n  read_quorum: Majority\n", []string{"replication.read_quorum: \"Majority\""}},
		{"listen not a list", "listen: /ip4/0.0.0.0/tcp/1\n", []string{":1: listen: want a list of multiaddr strings, got the string"}},
		{"bad multiaddr", "listen:\n  - /ip4/0.0.0.0/tcp/1\n  - /ip4/999.0.0.1/tcp/1\n", []string{":3: listen[1]: \"/ip4/999.0.0.1/tcp/1\" is not a multiaddr"}},
		{"not a multiaddr", "listen: [localhost:4001]\n", []string{"listen[0]: \"localhost:4001\" is not a multiaddr"}},
		{"nested list item", "listen:\n  - [a]\n", []string{":2: listen[0]: want a multiaddr string, got a list"}},
		{"null list item", "bootstrap:\n  - ~\n", []string{":2: bootstrap[0]: want a multiaddr string, got null"}},
		{"bootstrap without p2p", "bootstrap:\n  - /ip4/10.0.0.1/tcp/4001\n", []string{":2: bootstrap[0]: \"/ip4/10.0.0.1/tcp/4001\" has no /p2p/<peer id>"}},
		{"bootstrap with bad peer id", "bootstrap:\n  - /ip4/10.0.0.1/tcp/4001/p2p/QmNotAPeer\n", []string{"bootstrap[0]", "QmNotAPeer"}},
		{"two documents", "network: a\n---\nnetwork: b\n", []string{"config.yaml: holds more than one YAML document"}},
		{"syntax error", "network: a\n  bad: indent\n", []string{"config.yaml:2: YAML syntax"}},
		{"every error reported", "netwrok: x\nreplication:\n  factor: x\n" + "bootstrap: [/ip4/1.2.3.4/tcp/1/p2p/" + peerID + ", /ip4/1.2.3.4/tcp/1]\n",
			[]string{"netwrok: unknown key", "replication.factor: want an integer", "bootstrap[1]: \"/ip4/1.2.3.4/tcp/1\" has no /p2p/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, "config.yaml", tc.yaml))
			wantErrContains(t, err, tc.want...)
			if cfg.Network != "" {
				t.Errorf("Load returned a config (network %q) along with its error", cfg.Network)
			}
		})
	}
}

func TestLoadErrorsAreKeyErrors(t *testing.T) {
	_, err := Load(writeFile(t, "c.yaml", "replication:\n  factor: x\n"))
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("error %v is not a *KeyError", err)
	}
	if ke.Path != "replication.factor" || filepath.Base(ke.Source) != "c.yaml:2" {
		t.Errorf("got path %q source %q", ke.Path, ke.Source)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an fs.ErrNotExist error", err)
	}
	wantErrContains(t, err, "absent.yaml")
}
