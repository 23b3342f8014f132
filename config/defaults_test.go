package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestDefaultMatchesSpec(t *testing.T) {
	t.Setenv("HOME", "/home/tester")
	cfg := Default()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, filepath.Join("/home/tester", ".dhtnode")},
		{"identity_file", cfg.IdentityFile, ""},
		{"network", cfg.Network, "default"},
		{"listen", len(cfg.Listen), 2},
		{"listen[0]", cfg.Listen[0].String(), "/ip4/0.0.0.0/tcp/4001"},
		{"listen[1]", cfg.Listen[1].String(), "/ip4/0.0.0.0/udp/4001/quic-v1"},
		{"bootstrap", len(cfg.Bootstrap), 0},
		{"api.listen", cfg.API.Listen, "127.0.0.1:5001"},
		{"api.token", cfg.API.Token, ""},
		{"replication.factor", cfg.Replication.Factor, 8},
		{"replication.write_quorum", cfg.Replication.WriteQuorum, Majority},
		{"replication.read_quorum", cfg.Replication.ReadQuorum, Majority},
		{"replication.repair_interval", cfg.Replication.RepairInterval, 10 * time.Second},
		{"replication.max_value_size", cfg.Replication.MaxValueSize, 65536},
		{"routing.bucket_size", cfg.Routing.BucketSize, 20},
		{"routing.probe_interval", cfg.Routing.ProbeInterval, 5 * time.Second},
		{"routing.probe_failures", cfg.Routing.ProbeFailures, 2},
		{"routing.min_peers", cfg.Routing.MinPeers, 1},
		{"storage.engine", cfg.Storage.Engine, EngineLevelDB},
		{"storage.sync", cfg.Storage.Sync, false},
		{"storage.max_bytes", cfg.Storage.MaxBytes, 4 << 30},
		{"replication.tombstone_ttl", cfg.Replication.TombstoneTTL, 24 * time.Hour},
		{"security.psk_file", cfg.Security.PSKFile, ""},
		{"limits.conns_per_ip", cfg.Limits.ConnsPerIP, 256},
		{"limits.conn_rate_per_ip", cfg.Limits.ConnRatePerIP, 600},
		{"shutdown_timeout", cfg.ShutdownTimeout, 10 * time.Second},
		{"log.level", cfg.Log.Level, "info"},
		{"log.format", cfg.Log.Format, "text"},
		{"ephemeral", cfg.Ephemeral, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}
}

func TestDefaultWithoutHome(t *testing.T) {
	t.Setenv("HOME", "")
	cfg := Default()
	if cfg.DataDir != DefaultDataDir {
		t.Fatalf("data_dir = %q, want it left as %q", cfg.DataDir, DefaultDataDir)
	}
	wantErrContains(t, cfg.Validate(), "data_dir: cannot expand ~")

	cfg.Ephemeral = true
	if err := cfg.Validate(); err != nil {
		t.Errorf("an ephemeral node needs no data_dir: %v", err)
	}
}

func TestDefaultReturnsFreshLists(t *testing.T) {
	a := Default()
	a.Listen[0] = nil
	if Default().Listen[0] == nil {
		t.Fatal("Default shares its listen slice between calls")
	}
}

// api.rate_limit 0 limits clients only when the API listens beyond
// loopback; -1 never; a positive value always, with a burst of twice it
// unless api.rate_burst says otherwise.
func TestAPIRateLimit(t *testing.T) {
	for _, tc := range []struct {
		listen          string
		rateLimit, burs int
		wantRate, wantB int
	}{
		{"127.0.0.1:5001", 0, 0, 0, 0},
		{"[::1]:5001", 0, 0, 0, 0},
		{"localhost:5001", 0, 0, 0, 0},
		{"0.0.0.0:5001", 0, 0, DefaultAPIRateLimit, 2 * DefaultAPIRateLimit},
		{"10.1.2.3:5001", 0, 7, DefaultAPIRateLimit, 7},
		{"0.0.0.0:5001", -1, 0, 0, 0},
		{"127.0.0.1:5001", 20, 0, 20, 40},
		{"127.0.0.1:5001", 20, 3, 20, 3},
	} {
		a := API{Listen: tc.listen, RateLimit: tc.rateLimit, RateBurst: tc.burs}
		if r, b := a.APIRateLimit(); r != tc.wantRate || b != tc.wantB {
			t.Errorf("%+v: rate %d burst %d, want %d %d", a, r, b, tc.wantRate, tc.wantB)
		}
	}
}
