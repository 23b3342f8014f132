package config

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestSet(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	p1, p2 := testPeer(t, 1), testPeer(t, 2)
	for _, tc := range []struct {
		name, path, value string
		edit              func(*Config)
	}{
		{"string", "network", "lab", func(c *Config) { c.Network = "lab" }},
		{"data_dir expands ~", "data_dir", "~/x", func(c *Config) { c.DataDir = "/home/tester/x" }},
		{"nested string", "api.listen", "127.0.0.1:0", func(c *Config) { c.API.Listen = "127.0.0.1:0" }},
		{"integer", "replication.factor", "3", func(c *Config) { c.Replication.Factor = 3 }},
		{"quorum count", "replication.write_quorum", "2", func(c *Config) { c.Replication.WriteQuorum = 2 }},
		{"quorum majority", "replication.read_quorum", "majority", func(*Config) {}},
		{"duration", "shutdown_timeout", "1m", func(c *Config) { c.ShutdownTimeout = time.Minute }},
		{"nested duration", "routing.probe_interval", "100ms", func(c *Config) { c.Routing.ProbeInterval = 100 * time.Millisecond }},
		{"bool", "storage.sync", "true", func(c *Config) { c.Storage.Sync = true }},
		{"engine", "storage.engine", "memory", func(c *Config) { c.Storage.Engine = EngineMemory }},
		{"list replaces", "listen", "/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/udp/1/quic-v1", func(c *Config) {
			c.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1"), ma.StringCast("/ip4/127.0.0.1/udp/1/quic-v1")}
		}},
		{"list emptied", "listen", "", func(c *Config) { c.Listen = nil }},
		{"bootstrap merges one peer's addresses", "bootstrap",
			"/ip4/10.0.0.1/tcp/1/p2p/" + p1.String() + ",/ip4/10.0.0.2/tcp/1/p2p/" + p2.String() + ",/ip4/10.0.0.3/tcp/1/p2p/" + p1.String(),
			func(c *Config) {
				c.Bootstrap = []peer.AddrInfo{
					{ID: p1, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/1"), ma.StringCast("/ip4/10.0.0.3/tcp/1")}},
					{ID: p2, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.2/tcp/1")}},
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Default()
			if err := got.Set(tc.path, tc.value); err != nil {
				t.Fatal(err)
			}
			want := Default()
			tc.edit(&want)
			assertConfigEqual(t, got, want)
		})
	}
}

func TestSetRejects(t *testing.T) {
	for _, tc := range []struct {
		name, path, value, want string
	}{
		{"unknown key", "replication.facto", "3", "replication.facto: unknown key (known in replication: factor,"},
		{"unknown section", "raft.factor", "3", "raft.factor: unknown key (known here: data_dir,"},
		{"section", "replication", "3", "replication: is a section; set one of its keys: factor,"},
		{"below a leaf", "log.level.x", "3", "log.level.x: log.level has no keys below it"},
		{"not YAML-settable", "Ephemeral", "true", "Ephemeral: unknown key"},
		{"bad integer", "replication.factor", "many", `replication.factor: "many" is not an integer`},
		{"bad bool", "storage.sync", "sometimes", `storage.sync: "sometimes" is not true or false`},
		{"bad duration", "replication.repair_interval", "10", `replication.repair_interval: "10" is not a duration`},
		{"bad quorum", "replication.write_quorum", "0", `replication.write_quorum: "0" is not "majority" or a positive integer`},
		{"bad multiaddr", "listen", "/ip4/127.0.0.1/tcp/1,/tcp/nope", `listen[1]: "/tcp/nope" is not a multiaddr`},
		{"bootstrap without p2p", "bootstrap", "/ip4/10.0.0.1/tcp/1", `bootstrap[0]: "/ip4/10.0.0.1/tcp/1" has no /p2p/<peer id>`},
		{"invalid UTF-8", "network", "a\xffb", `network: "a\xffb" is not valid UTF-8`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			err := cfg.Set(tc.path, tc.value)
			wantErrContains(t, err, tc.want)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Errorf("error %v is not a *KeyError", err)
			}
			assertConfigEqual(t, cfg, Default())
		})
	}
}

func TestApplyEnv(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	p1 := testPeer(t, 1)
	got := Default()
	err := ApplyEnv(&got, []string{
		"PATH=/usr/bin",
		"DHTNODE_DATA_DIR=~/env",
		"DHTNODE_NETWORK=envnet",
		"DHTNODE_LISTEN=/ip4/127.0.0.1/tcp/7000",
		"DHTNODE_BOOTSTRAP=/ip4/10.0.0.1/tcp/1/p2p/" + p1.String(),
		"DHTNODE_API_LISTEN=127.0.0.1:0",
		"DHTNODE_REPLICATION_FACTOR=5",
		"DHTNODE_REPLICATION_WRITE_QUORUM=2",
		"DHTNODE_ROUTING_PROBE_INTERVAL=1s",
		"DHTNODE_SHUTDOWN_TIMEOUT=2s",
		"DHTNODE_LOG_FORMAT=json",
		"DHTNODE_API=http://127.0.0.1:9999", // the client's, ignored
		"DHTNODE_TOKEN=client-secret",       // the client's, ignored
		"DHTNODE_TEST_LOG=1",                // not a config key, ignored
		"DHTNODE_TIMER_SLACK=1ms",           // internal/sysmon's, ignored
		"DHTNODE_RUNTIME_TUNED=1",           // likewise
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.DataDir = "/home/tester/env"
	want.Network = "envnet"
	want.Listen = []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/7000")}
	want.Bootstrap = []peer.AddrInfo{{ID: p1, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/1")}}}
	want.API.Listen = "127.0.0.1:0"
	want.Replication.Factor = 5
	want.Replication.WriteQuorum = 2
	want.Routing.ProbeInterval = time.Second
	want.ShutdownTimeout = 2 * time.Second
	want.Log.Format = "json"
	assertConfigEqual(t, got, want)
}

func TestApplyEnvRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"unknown variable in a section", []string{"DHTNODE_REPLICATION_FACTR=3"},
			[]string{"DHTNODE_REPLICATION_FACTR: unknown variable; known: DHTNODE_REPLICATION_FACTOR,"}},
		{"unknown top-level variable", []string{"DHTNODE_DATADIR=/x"}, []string{"DHTNODE_DATADIR: unknown variable; known: DHTNODE_DATA_DIR,"}},
		{"bad value", []string{"DHTNODE_REPLICATION_FACTOR=eight"}, []string{`DHTNODE_REPLICATION_FACTOR: replication.factor: "eight" is not an integer`}},
		{"bad list entry", []string{"DHTNODE_BOOTSTRAP=/ip4/10.0.0.1/tcp/1"}, []string{`DHTNODE_BOOTSTRAP: bootstrap[0]: "/ip4/10.0.0.1/tcp/1" has no /p2p/<peer id>`}},
		{"all problems", []string{"DHTNODE_LOG_LEVL=x", "DHTNODE_SHUTDOWN_TIMEOUT=soon"},
			[]string{"DHTNODE_LOG_LEVL: unknown variable", `DHTNODE_SHUTDOWN_TIMEOUT: shutdown_timeout: "soon" is not a duration`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			wantErrContains(t, ApplyEnv(&cfg, tc.env), tc.want...)
		})
	}
}

func TestEveryKeyHasAnEnvName(t *testing.T) {
	// Every leaf must be reachable through ApplyEnv, and names must not collide.
	seen := map[string]string{}
	for _, p := range leafPaths(reflect.TypeFor[Config](), "") {
		name := EnvName(p)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s share %s", p, other, name)
		}
		seen[name] = p
		if name == ClientAPIEnv || name == ClientTokenEnv {
			t.Errorf("%s collides with the client's %s", p, name)
		}
	}
	// SPEC §4's 21; api.token_file, read_timeout, idle_timeout and
	// max_connections (issue 17); limits.* and identity_file (issue 18).
	// storage.max_bytes, replication.tombstone_ttl, api.rate_limit and
	// api.rate_burst (issue 20); api.pprof (issue 20's load profiling).
	const want = 21 + 4 + 3 + 4 + 1
	if len(seen) != want {
		t.Errorf("got %d keys, want %d", len(seen), want)
	}
}
