package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// runConfigFor parses args as "dhtnode run" flags and builds the config.
func runConfigFor(t *testing.T, environ []string, args ...string) (config.Config, error) {
	t.Helper()
	o := &runOptions{}
	flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
	o.register(flags)
	if err := flags.Parse(args); err != nil {
		t.Fatal(err)
	}
	return (&app{environ: environ}).runConfig(flags, o)
}

// writeConfig writes a config file into a new data dir and returns the dir.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, configFile), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRunConfigPrecedence(t *testing.T) {
	dir := writeConfig(t, "network: filenet\nlog:\n  level: debug\nreplication:\n  factor: 3\n")
	env := []string{"DHTNODE_REPLICATION_FACTOR=4", "DHTNODE_API=http://ignored:1"}
	cases := []struct {
		name       string
		environ    []string
		args       []string
		wantFactor int
	}{
		{"defaults", nil, []string{"--data-dir", t.TempDir()}, config.DefaultReplicationFactor},
		{"file", nil, []string{"--data-dir", dir}, 3},
		{"file via DHTNODE_DATA_DIR", []string{"DHTNODE_DATA_DIR=" + dir}, nil, 3},
		{"file via --config", nil, []string{"--config", filepath.Join(dir, configFile)}, 3},
		{"env over file", env, []string{"--data-dir", dir}, 4},
		{"flag over env", env, []string{"--data-dir", dir, "--replication-factor", "5"}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := runConfigFor(t, tc.environ, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Replication.Factor != tc.wantFactor {
				t.Errorf("replication.factor = %d, want %d", cfg.Replication.Factor, tc.wantFactor)
			}
			if tc.wantFactor != config.DefaultReplicationFactor && (cfg.Network != "filenet" || cfg.Log.Level != "debug") {
				t.Errorf("network %q, log.level %q: unset flags must not override the file", cfg.Network, cfg.Log.Level)
			}
		})
	}
}

func TestRunConfigFlags(t *testing.T) {
	const boot = "/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWAGxXBSzgJjfeVJmFcFJqRmXqZC49d3X1iazVFP7anmWL"
	key := filepath.Join(t.TempDir(), "seed.key")
	if _, err := node.CreateIdentity(key); err != nil {
		t.Fatal(err)
	}
	cfg, err := runConfigFor(t, nil, "--data-dir", t.TempDir(), "--ephemeral",
		"--listen", "/ip4/127.0.0.1/tcp/4102", "--listen", "/ip4/127.0.0.1/udp/4102/quic-v1",
		"--bootstrap", boot, "--api", "127.0.0.1:5102", "--api-token", "tok", "--network", "n1",
		"--replication-factor", "5", "--write-quorum", "2", "--read-quorum", "majority",
		"--repair-interval", "2s", "--probe-interval", "500ms", "--log-level", "warn", "--log-format", "json", "--storage-sync",
		"--identity-file", key)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listen) != 2 || cfg.Listen[1].String() != "/ip4/127.0.0.1/udp/4102/quic-v1" {
		t.Errorf("listen = %v", cfg.Listen)
	}
	if len(cfg.Bootstrap) != 1 || cfg.Bootstrap[0].ID.String() != boot[strings.LastIndex(boot, "/")+1:] {
		t.Errorf("bootstrap = %v", cfg.Bootstrap)
	}
	want := []struct {
		name      string
		got, want any
	}{
		{"ephemeral", cfg.Ephemeral, true},
		{"api.listen", cfg.API.Listen, "127.0.0.1:5102"},
		{"api.token", cfg.API.Token, "tok"},
		{"network", cfg.Network, "n1"},
		{"replication.factor", cfg.Replication.Factor, 5},
		{"replication.write_quorum", cfg.Replication.WriteQuorum, config.Quorum(2)},
		{"replication.read_quorum", cfg.Replication.ReadQuorum, config.Majority},
		{"replication.repair_interval", cfg.Replication.RepairInterval, 2 * time.Second},
		{"routing.probe_interval", cfg.Routing.ProbeInterval, 500 * time.Millisecond},
		{"log.level", cfg.Log.Level, "warn"},
		{"log.format", cfg.Log.Format, "json"},
		{"storage.sync", cfg.Storage.Sync, true},
		{"identity_file", cfg.IdentityFile, key},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}
}

func TestRunBadConfigExitsTwo(t *testing.T) {
	// A port the daemon would fail on with exit 1 if it got as far as
	// opening it: config errors must come first.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	api := busy.Addr().String()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	cases := []struct {
		name    string
		environ []string
		args    []string
		want    string
	}{
		{"flag", nil, []string{"--replication-factor", "0"}, "replication.factor: 0 must be from 1 to 64"},
		{"flag parse", nil, []string{"--listen", "not-an-addr"}, `--listen: listen[1]: "not-an-addr" is not a multiaddr`},
		{"env", []string{"DHTNODE_ROUTING_PROBE_FAILURES=many"}, nil, `DHTNODE_ROUTING_PROBE_FAILURES: routing.probe_failures: "many" is not an integer`},
		{"env unknown", []string{"DHTNODE_REPLICATION_FACTORY=3"}, nil, "DHTNODE_REPLICATION_FACTORY: unknown variable"},
		{"file", nil, []string{"--data-dir", writeConfig(t, "replication:\n  factr: 3\n")}, "replication.factr: unknown key"},
		{"missing --config", nil, []string{"--config", missing}, missing},
		{"validation", nil, []string{"--write-quorum", "9"}, "--write-quorum: replication.write_quorum: 9 must be <= replication.factor (8)"},
		{"validation in the file", nil, []string{"--data-dir", writeConfig(t, "replication:\n  factor: 3\n  write_quorum: 5\n")},
			"config.yaml:3: replication.write_quorum: 5 must be <= replication.factor (3)"},
		{"validation from env", []string{"DHTNODE_ROUTING_BUCKET_SIZE=2"}, nil, "DHTNODE_ROUTING_BUCKET_SIZE: routing.bucket_size: 2 must be >="},
		{"token file missing", nil, []string{"--api-token-file", missing}, "--api-token-file: api.token_file: open " + missing},
		{"missing identity file", nil, []string{"--identity-file", missing}, "identity_file: " + `"` + missing + `" must be an existing key file`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A later --data-dir in tc.args wins over this one.
			args := append([]string{"run", "--ephemeral", "--data-dir", t.TempDir(), "--api", api, "--listen", "/ip4/127.0.0.1/tcp/0"}, tc.args...)
			res := invocation{environ: tc.environ}.dhtnode(t, args...)
			if res.code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.code, exitUsage, res.stderr)
			}
			if !strings.HasPrefix(res.stderr, "dhtnode: invalid configuration: ") || !strings.Contains(res.stderr, tc.want) ||
				strings.Count(res.stderr, "\n") != 1 {
				t.Errorf("stderr %q, want one line naming %q", res.stderr, tc.want)
			}
		})
	}
}

// TestRunDaemon starts a real ephemeral node in-process, talks to it with
// the client commands, and stops it by cancelling its context as a signal
// would.
func TestRunDaemon(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	dataDir := t.TempDir()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--ephemeral", "--data-dir", dataDir, "--network", "clitest", "--listen", "/ip4/127.0.0.1/tcp/0",
			"--api", "127.0.0.1:0", "--replication-factor", "3", "--api-token", "tok"}, strings.NewReader(""), &syncBuffer{}, &stderr, nil)
	}()

	readyLine := regexp.MustCompile(`msg="dhtnode ready" peer_id=(\S+) .*api=(\S+)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; {
		select {
		case code := <-done:
			t.Fatalf("daemon exited with %d before it was ready:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready line within 20s:\n%s", stderr.String())
		}
		m = readyLine.FindStringSubmatch(stderr.String())
	}
	if n := strings.Count(stderr.String(), "dhtnode ready"); n != 1 {
		t.Errorf("ready line logged %d times", n)
	}
	peerID, api := m[1], m[2]

	if !strings.Contains(stderr.String(), "level=WARN msg=\"--api-token is visible") {
		t.Errorf("no warning for --api-token:\n%s", stderr.String())
	}
	res := dhtnode(t, "status", "--api", api, "--json", "--token", "tok")
	if res.code != exitOK {
		t.Fatalf("status: %+v", res)
	}
	var st node.StatusResponse
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st.PeerID != peerID || st.Network != "clitest" || st.Replication.Factor != 3 {
		t.Errorf("status = %+v, want peer %s, network clitest, factor 3", st, peerID)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("daemon exited with %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop within 20s of its context ending")
	}
	if !strings.Contains(stderr.String(), "msg=stopped") {
		t.Errorf("no stop line:\n%s", stderr.String())
	}
}
