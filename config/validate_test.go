package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// validationErrors unpacks the joined errors of Validate.
func validationErrors(t *testing.T, err error) []*ValidationError {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate returned %T, want errors.Join's result", err)
	}
	var out []*ValidationError
	for _, e := range joined.Unwrap() {
		var ve *ValidationError
		if !errors.As(e, &ve) {
			t.Fatalf("%v is not a *ValidationError", e)
		}
		out = append(out, ve)
	}
	return out
}

func TestValidate(t *testing.T) {
	psk := writeFile(t, "swarm.key", "/key/swarm/psk/1.0.0/\n/base16/\n"+strings.Repeat("ab", 32)+"\n")
	tokenFile := writeFile(t, "token", "  s3cret \nignored\n")
	emptyFile := writeFile(t, "empty-token", "\n")
	p1 := testPeer(t, 1)
	tcp := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		path string // "" when the config is valid
		want string
	}{
		{"defaults", func(*Config) {}, "", ""},
		{"data_dir empty", func(c *Config) { c.DataDir = "" }, "data_dir", "must be set"},
		{"data_dir empty but ephemeral", func(c *Config) { c.DataDir, c.Ephemeral = "", true }, "", ""},
		{"network empty", func(c *Config) { c.Network = "" }, "network", `"" must be 1 to 64 characters`},
		{"network with slash", func(c *Config) { c.Network = "a/b" }, "network", `"a/b" must be`},
		{"network with space", func(c *Config) { c.Network = "a b" }, "network", "must be"},
		{"network at 64 chars", func(c *Config) { c.Network = strings.Repeat("n", 64) }, "", ""},
		{"network over 64 chars", func(c *Config) { c.Network = strings.Repeat("n", 65) }, "network", "must be 1 to 64"},
		{"network punctuation", func(c *Config) { c.Network = "lab_1.test-2" }, "", ""},
		{"listen empty", func(c *Config) { c.Listen = nil }, "listen", "must hold at least one address"},
		{"listen udp without quic", func(c *Config) { c.Listen = []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/udp/1")} }, "listen[0]", "must be TCP"},
		{"listen old quic", func(c *Config) { c.Listen = []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/udp/1/quic")} }, "listen[0]", "must be TCP"},
		{"listen websocket", func(c *Config) { c.Listen = []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/tcp/1/ws")} }, "listen[0]", "must be TCP"},
		{"listen with p2p", func(c *Config) { c.Listen = []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/tcp/1/p2p/" + p1.String())} }, "listen[0]", "must be TCP"},
		{"listen unix", func(c *Config) { c.Listen = []ma.Multiaddr{ma.StringCast("/unix/tmp/x")} }, "listen[0]", "must be TCP"},
		{"listen ip6 and dns", func(c *Config) {
			c.Listen = []ma.Multiaddr{ma.StringCast("/ip6/::/tcp/1"), ma.StringCast("/dns/example.com/udp/1/quic-v1"), ma.StringCast("/dns4/a/tcp/2"), ma.StringCast("/dns6/a/tcp/3")}
		}, "", ""},
		{"bootstrap without address", func(c *Config) { c.Bootstrap = []peer.AddrInfo{{ID: p1}} }, "bootstrap[0]", "has no address"},
		{"bootstrap with empty ID", func(c *Config) { c.Bootstrap = []peer.AddrInfo{{Addrs: []ma.Multiaddr{tcp}}} }, "bootstrap[0]", "invalid peer ID"},
		{"bootstrap by dns names", func(c *Config) {
			if err := c.Set("bootstrap", "/dns4/localhost/tcp/4001/p2p/"+p1.String()+",/dns/seed.example/udp/4001/quic-v1/p2p/"+p1.String()+
				",/dns6/seed.example/tcp/4001/p2p/"+p1.String()+",/dnsaddr/example.org/p2p/"+p1.String()); err != nil {
				t.Fatal(err)
			}
		}, "", ""},
		{"api.listen without port", func(c *Config) { c.API.Listen = "127.0.0.1" }, "api.listen", "must be host:port"},
		{"api.listen bad port", func(c *Config) { c.API.Listen = "127.0.0.1:http" }, "api.listen", "port from 0 to 65535"},
		{"api.listen port too big", func(c *Config) { c.API.Listen = "127.0.0.1:65536" }, "api.listen", "port from 0 to 65535"},
		{"api.listen port 0", func(c *Config) { c.API.Listen = "127.0.0.1:0" }, "", ""},
		{"api.listen localhost", func(c *Config) { c.API.Listen = "localhost:5001" }, "", ""},
		{"api.listen loopback range", func(c *Config) { c.API.Listen = "127.8.0.1:5001" }, "", ""},
		{"api.listen ipv6 loopback", func(c *Config) { c.API.Listen = "[::1]:5001" }, "", ""},
		{"api.listen public needs token", func(c *Config) { c.API.Listen = "0.0.0.0:5001" }, "api.token", `must be set (or api.token_file) because api.listen "0.0.0.0:5001" is not a loopback address`},
		{"api.listen empty host needs token", func(c *Config) { c.API.Listen = ":5001" }, "api.token", "must be set"},
		{"api.listen hostname needs token", func(c *Config) { c.API.Listen = "node.lan:5001" }, "api.token", "must be set"},
		{"api.listen public with token", func(c *Config) { c.API.Listen, c.API.Token = "0.0.0.0:5001", "t" }, "", ""},
		{"factor 0", func(c *Config) { c.Replication.Factor = 0 }, "replication.factor", "0 must be from 1 to 64"},
		{"factor 65", func(c *Config) { c.Replication.Factor, c.Routing.BucketSize = 65, 65 }, "replication.factor", "65 must be from 1 to 64"},
		{"factor 1", func(c *Config) { c.Replication.Factor = 1 }, "", ""},
		{"write quorum above factor", func(c *Config) { c.Replication.WriteQuorum = 9 }, "replication.write_quorum", "9 must be <= replication.factor (8)"},
		{"read quorum above factor", func(c *Config) { c.Replication.ReadQuorum = 9 }, "replication.read_quorum", "9 must be <= replication.factor (8)"},
		{"quorum equal to factor", func(c *Config) { c.Replication.WriteQuorum, c.Replication.ReadQuorum = 8, 8 }, "", ""},
		{"negative quorum", func(c *Config) { c.Replication.ReadQuorum = -1 }, "replication.read_quorum", "must be majority or a positive count"},
		{"repair interval too short", func(c *Config) { c.Replication.RepairInterval = 99 * time.Millisecond }, "replication.repair_interval", "99ms must be at least 100ms"},
		{"repair interval minimum", func(c *Config) { c.Replication.RepairInterval = 100 * time.Millisecond }, "", ""},
		{"max value size 0", func(c *Config) { c.Replication.MaxValueSize = 0 }, "replication.max_value_size", "0 must be from 1 to 1048576"},
		{"max value size over 1 MiB", func(c *Config) { c.Replication.MaxValueSize = 1<<20 + 1 }, "replication.max_value_size", "must be from 1 to 1048576"},
		{"max value size 1 MiB", func(c *Config) { c.Replication.MaxValueSize = 1 << 20 }, "", ""},
		{"bucket size below factor", func(c *Config) { c.Routing.BucketSize = 7 }, "routing.bucket_size", "7 must be >= replication.factor (8)"},
		{"bucket size over 200", func(c *Config) { c.Routing.BucketSize = 201 }, "routing.bucket_size", "201 must be <= 200"},
		{"probe interval too short", func(c *Config) { c.Routing.ProbeInterval = 49 * time.Millisecond }, "routing.probe_interval", "49ms must be at least 50ms"},
		{"probe failures 0", func(c *Config) { c.Routing.ProbeFailures = 0 }, "routing.probe_failures", "0 must be at least 1"},
		{"min peers negative", func(c *Config) { c.Routing.MinPeers = -1 }, "routing.min_peers", "-1 must not be negative"},
		{"min peers 0", func(c *Config) { c.Routing.MinPeers = 0 }, "", ""},
		{"unknown engine", func(c *Config) { c.Storage.Engine = "bolt" }, "storage.engine", `"bolt" must be leveldb or memory`},
		{"pebble engine", func(c *Config) { c.Storage.Engine = EnginePebble }, "storage.engine", `"pebble" is no longer built in: use leveldb (the default) or memory`},
		{"memory engine", func(c *Config) { c.Storage.Engine = EngineMemory }, "", ""},
		{"psk file missing", func(c *Config) {
			c.Security.PSKFile = filepath.Join(t.TempDir(), "absent.key")
			c.Listen = []ma.Multiaddr{tcp}
		}, "security.psk_file", "must be an existing file"},
		{"psk file is a directory", func(c *Config) { c.Security.PSKFile, c.Listen = t.TempDir(), []ma.Multiaddr{tcp} }, "security.psk_file", "must be an existing file"},
		{"psk with quic listen", func(c *Config) { c.Security.PSKFile = psk }, "listen[1]", "is QUIC, which libp2p cannot secure with security.psk_file"},
		{"psk with tcp only", func(c *Config) { c.Security.PSKFile, c.Listen = psk, []ma.Multiaddr{tcp} }, "", ""},
		{"identity file missing", func(c *Config) { c.IdentityFile = filepath.Join(t.TempDir(), "absent.key") }, "identity_file", "must be an existing key file"},
		{"identity file is a directory", func(c *Config) { c.IdentityFile = t.TempDir() }, "identity_file", "must be an existing key file"},
		{"identity file exists", func(c *Config) { c.IdentityFile = psk }, "", ""},
		{"conns per ip 0", func(c *Config) { c.Limits.ConnsPerIP = 0 }, "limits.conns_per_ip", "0 must be at least 1"},
		{"conn rate per ip 0", func(c *Config) { c.Limits.ConnRatePerIP = 0 }, "limits.conn_rate_per_ip", "0 must be at least 1 (per minute)"},
		{"libp2p's own per-ip limits", func(c *Config) { c.Limits = Limits{ConnsPerIP: 8, ConnRatePerIP: 12} }, "", ""},
		{"shutdown timeout 0", func(c *Config) { c.ShutdownTimeout = 0 }, "shutdown_timeout", "0s must be positive"},
		{"api read timeout 0", func(c *Config) { c.API.ReadTimeout = 0 }, "api.read_timeout", "0s must be positive"},
		{"api idle timeout 0", func(c *Config) { c.API.IdleTimeout = 0 }, "api.idle_timeout", "0s must be positive"},
		{"api max connections 0", func(c *Config) { c.API.MaxConnections = 0 }, "api.max_connections", "0 must be at least 1"},
		{"token and token file", func(c *Config) { c.API.Token, c.API.TokenFile = "a", tokenFile }, "api.token_file", "not both"},
		{"token file missing", func(c *Config) { c.API.TokenFile = filepath.Join(t.TempDir(), "absent") }, "api.token_file", "no such file"},
		{"token file empty", func(c *Config) { c.API.TokenFile = emptyFile }, "api.token_file", "first line is empty"},
		{"token file on a public api", func(c *Config) { c.API.Listen, c.API.TokenFile = "0.0.0.0:5001", tokenFile }, "", ""},
		{"log level", func(c *Config) { c.Log.Level = "trace" }, "log.level", `"trace" must be debug, info, warn or error`},
		{"log level upper case", func(c *Config) { c.Log.Level = "INFO" }, "log.level", "must be debug"},
		{"log format", func(c *Config) { c.Log.Format = "logfmt" }, "log.format", `"logfmt" must be text or json`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.DataDir = "/var/lib/dhtnode"
			tc.edit(&cfg)
			err := cfg.Validate()
			errs := validationErrors(t, err)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if len(errs) != 1 || errs[0].Path != tc.path {
				t.Fatalf("got %v, want one error for %s", err, tc.path)
			}
			wantErrContains(t, err, tc.path+": ", tc.want)
		})
	}
}

func TestValidateReportsEverythingAndChangesNothing(t *testing.T) {
	cfg := Default()
	cfg.Network = ""
	cfg.Replication.Factor = 0
	cfg.Log.Format = "xml"
	cfg.Listen = []ma.Multiaddr{ma.StringCast("/ip4/0.0.0.0/udp/1")}
	before := cfg
	before.Listen = append([]ma.Multiaddr(nil), cfg.Listen...)

	errs := validationErrors(t, cfg.Validate())
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	want := "network listen[0] replication.factor log.format"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("got errors for %q, want %q", got, want)
	}
	assertConfigEqual(t, cfg, before)
}

func TestValidateChecksPSKFileOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swarm.key")
	cfg := Default()
	cfg.Listen = cfg.Listen[:1]
	cfg.Security.PSKFile = path
	wantErrContains(t, cfg.Validate(), "security.psk_file")
	if err := os.WriteFile(path, []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBearerTokenReadsTheFilesFirstLine(t *testing.T) {
	a := API{TokenFile: writeFile(t, "token", "  s3cret \nignored\n")}
	if got, err := a.BearerToken(); err != nil || got != "s3cret" {
		t.Fatalf("got %q, %v", got, err)
	}
	if got, err := (API{Token: "flag"}).BearerToken(); err != nil || got != "flag" {
		t.Fatalf("token: got %q, %v", got, err)
	}
	big := API{TokenFile: writeFile(t, "big", strings.Repeat("x", maxTokenFile+1))}
	if _, err := big.BearerToken(); err == nil {
		t.Fatal("a token file over the limit was read")
	}
}
