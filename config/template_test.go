package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestWriteDefaultFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := WriteDefaultFile(path, dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.DataDir = dir
	assertConfigEqual(t, got, want)

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %v, want 0600 (the file may hold api.token)", perm)
	}
}

func TestWriteDefaultFileCommentsEveryKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := WriteDefaultFile(path, "/data"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The comment line above each key, by the key's path.
	comments := map[string]string{}
	section, prev := "", ""
	for line := range strings.Lines(string(data)) {
		trimmed := strings.TrimSpace(line)
		if name, _, ok := strings.Cut(trimmed, ":"); ok && !strings.HasPrefix(trimmed, "#") {
			if strings.HasPrefix(line, " ") {
				name = section + "." + name
			} else {
				section = name
			}
			comments[name] = strings.TrimSpace(prev)
		}
		prev = line
	}
	for _, p := range leafPaths(reflect.TypeFor[Config](), "") {
		comment, ok := comments[p]
		if !ok {
			t.Errorf("%s: no line for it", p)
		} else if !strings.HasPrefix(comment, "# ") || !strings.Contains(comment, EnvName(p)) {
			t.Errorf("%s: line above is %q, want a comment naming %s", p, comment, EnvName(p))
		}
	}
}

func TestWriteDefaultFileRefusesToOverwrite(t *testing.T) {
	path := writeFile(t, "config.yaml", "network: mine\n")
	wantErrContains(t, WriteDefaultFile(path, "/data"), path, "already exists")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "network: mine\n" {
		t.Errorf("existing file changed to %q", data)
	}
}

func TestWriteDefaultFileMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "config.yaml")
	wantErrContains(t, WriteDefaultFile(path, "/data"), "write config", "absent")
}

func TestMarshalRoundTrip(t *testing.T) {
	p1, p2 := testPeer(t, 1), testPeer(t, 2)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"defaults", func(*Config) {}},
		{"every key changed", func(c *Config) {
			c.DataDir = "/srv/dht node"
			c.Network = "lab"
			c.Listen = []ma.Multiaddr{ma.StringCast("/ip6/::1/tcp/1")}
			c.Bootstrap = []peer.AddrInfo{
				{ID: p1, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/1"), ma.StringCast("/dns/x/udp/2/quic-v1")}},
				{ID: p2, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.2/tcp/1")}},
			}
			c.API = API{Listen: "[::]:80", Token: "tok en"}
			c.Replication = Replication{Factor: 3, WriteQuorum: 2, ReadQuorum: 3, RepairInterval: 1500 * time.Millisecond, MaxValueSize: 10}
			c.Routing = Routing{BucketSize: 4, ProbeInterval: time.Hour, ProbeFailures: 9, MinPeers: 0}
			c.Storage = Storage{Engine: EngineMemory, Sync: true}
			c.Security.PSKFile = "/etc/swarm.key"
			c.ShutdownTimeout = time.Nanosecond
			c.Log = Log{Level: "error", Format: "json"}
		}},
		{"strings that look like other types", func(c *Config) {
			c.Network, c.API.Token, c.Security.PSKFile, c.Log.Level = "8", "true", "null", "1s"
		}},
		{"strings with YAML syntax", func(c *Config) {
			c.Network, c.API.Token, c.DataDir, c.Log.Format = "a: b", "# not a comment", "- x\n  y", "'\"{[*&!|>%@`"
		}},
		{"empty lists", func(c *Config) { c.Listen, c.Bootstrap = []ma.Multiaddr{}, []peer.AddrInfo{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := Default()
			tc.edit(&want)
			data, err := want.marshal()
			if err != nil {
				t.Fatal(err)
			}
			got := Default()
			if err := got.decodeYAML("test.yaml", data, Sources{}); err != nil {
				t.Fatalf("%v\n%s", err, data)
			}
			if len(want.Listen) == 0 {
				want.Listen = nil // an empty list reads back as nil
			}
			if len(want.Bootstrap) == 0 {
				want.Bootstrap = nil
			}
			assertConfigEqual(t, got, want)
		})
	}
}
