package containertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/leakcheck"
	"github.com/dhtnode/dhtnode/node"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// testNet is one scripts/testnet.sh network of a test, with unique names,
// subnet and API ports so that it cannot meet another run's.
type testNet struct {
	t       *testing.T
	size    int
	name    string
	dir     string
	apiBase int
	token   string
	env     []string
	clients []*node.Client
}

// requireDocker skips the test unless a Docker engine answers and the
// test may enter other network namespaces.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Docker containers; skipped with -short")
	}
	for _, tool := range []string{"bash", "docker", "curl", "jq", "iptables", "iptables-restore", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("container tests need %s, which is not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Skipf("no Docker engine answers (docker version: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	if os.Geteuid() != 0 {
		t.Skip("container tests set iptables rules in containers' namespaces with nsenter, which needs root")
	}
}

// namePrefix starts the names of every test network; the test process's
// PID follows it.
const namePrefix = "dhtnode-ct-"

// removeStale removes the containers, volumes and networks of test
// networks whose test process is gone (killed, or timed out: a test
// binary's timeout panic skips the cleanups).
func removeStale(t *testing.T) {
	out, err := exec.Command("docker", "network", "ls", "--filter", "name="+namePrefix, "--format", "{{.Name}}").Output()
	if err != nil {
		return
	}
	for _, name := range strings.Fields(string(out)) {
		var pid, id int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, namePrefix), "%d-%d", &pid, &id); err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its test still runs
		}
		t.Logf("removing %s, left behind by test process %d", name, pid)
		filter := "label=dhtnode.testnet=" + name
		for _, kind := range []string{"container", "volume"} {
			list := []string{kind, "ls", "-q", "--filter", filter}
			if kind == "container" {
				list = append(list, "-a") // stopped ones too
			}
			ids, _ := exec.Command("docker", list...).Output()
			if f := strings.Fields(string(ids)); len(f) > 0 {
				_ = exec.Command("docker", append([]string{kind, "rm", "-f"}, f...)...).Run()
			}
		}
		_ = exec.Command("docker", "network", "rm", name).Run()
		_ = exec.Command("docker", "rmi", "dhtnode:"+name).Run()
	}
}

// startTestNet runs "testnet.sh up size -- flags" with dhtnode's image
// and removes the network when the test ends.
func startTestNet(t *testing.T, size int, flags ...string) *testNet {
	t.Helper()
	// API ports below the ephemeral range (32768-60999).
	return launchTestNet(t, netPlace{"dhtnode", "10.218", 10000}, size, flags...)
}

// netPlace is what a test network is and where it goes: the system
// testnet.sh runs (TESTNET_SYSTEM), the first two octets of its random
// /24 subnet, and the lowest API port of its random block.
type netPlace struct {
	system string
	subnet string
	ports  int
}

// launchTestNet runs "testnet.sh up size -- flags" for the system and
// place of p and removes the network when the test ends.
func launchTestNet(t *testing.T, p netPlace, size int, flags ...string) *testNet {
	t.Helper()
	requireDocker(t)
	removeStale(t)
	id := rand.IntN(1000)
	n := &testNet{
		t:       t,
		size:    size,
		name:    fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), id),
		dir:     filepath.Join(t.TempDir(), "testnet"),
		apiBase: p.ports + 10*rand.IntN(190),
		token:   fmt.Sprintf("ct-token-%d", rand.Int64()),
	}
	n.env = append(os.Environ(),
		"TESTNET_SYSTEM="+p.system, "TESTNET_DIR="+n.dir, "TESTNET_NAME="+n.name,
		fmt.Sprintf("TESTNET_SUBNET=%s.%d.0/24", p.subnet, 100+rand.IntN(150)),
		fmt.Sprintf("API_BASE_PORT=%d", n.apiBase),
		"DHTNODE_TOKEN="+n.token, "DHTNODE_IMAGE="+buildImage(t, p.system, n.name),
		"STOP_TIMEOUT=15", "READY_TIMEOUT=90",
	)
	t.Cleanup(func() {
		cmd := exec.Command("bash", "../../scripts/testnet.sh", "down")
		cmd.Env = n.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("testnet.sh down: %v\n%s", err, out)
		}
	})
	for i := range size {
		c := node.NewClient(fmt.Sprintf("http://127.0.0.1:%d", n.apiBase+i), n.token)
		n.clients = append(n.clients, c)
		t.Cleanup(c.CloseIdleConnections)
	}
	n.script(append([]string{"up", fmt.Sprint(size), "--"}, flags...)...)
	return n
}

// buildImage builds this checkout's image of system (dhtnode, or the
// baseline with --baseline) as dhtnode:NAME with scripts/image.sh and
// removes the tag when the test ends.
func buildImage(t *testing.T, system, name string) string {
	t.Helper()
	tag := "dhtnode:" + name
	args := []string{"../../scripts/image.sh", tag}
	if system == "baseline" {
		args = []string{"../../scripts/image.sh", "--baseline", tag}
	}
	if out, err := exec.Command("bash", args...).CombinedOutput(); err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", tag).Run() })
	return tag
}

// script runs testnet.sh with args and fails the test if it fails.
func (n *testNet) script(args ...string) string {
	n.t.Helper()
	cmd := exec.Command("bash", append([]string{"../../scripts/testnet.sh"}, args...)...)
	cmd.Env = n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		n.t.Fatalf("testnet.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// container is node i's container name.
func (n *testNet) container(i int) string { return fmt.Sprintf("%s-%d", n.name, i) }

// inspect returns docker inspect's format of node i's container.
func (n *testNet) inspect(i int, format string) string {
	n.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", format, n.container(i)).Output()
	if err != nil {
		n.t.Fatalf("docker inspect %s: %v", n.container(i), err)
	}
	return strings.TrimSpace(string(out))
}

// ip is node i's address on the test network.
func (n *testNet) ip(i int) string {
	return n.inspect(i, fmt.Sprintf("{{(index .NetworkSettings.Networks %q).IPAddress}}", n.name))
}

// status is node i's /v1/status.
func (n *testNet) status(i int) (node.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.clients[i].Status(ctx)
}

// peerIDs is the set of peer IDs in node i's routing table.
func (n *testNet) peerIDs(i int) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := n.clients[i].Peers(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, p := range peers {
		ids[p.PeerID] = true
	}
	return ids, nil
}

// put writes key through node i with write quorum w (0: the default).
func (n *testNet) put(i int, key, value string, w int) (node.PutResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return n.clients[i].Put(ctx, key, []byte(value), node.PutOptions{W: w})
}

// get reads key through node i with the default read quorum.
func (n *testNet) get(i int, key string) (string, uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v, ver, err := n.clients[i].Get(ctx, key, 0)
	return string(v), ver, err
}

// eventually polls cond every 250 ms until it returns nil, and fails the
// test with cond's last error after timeout. It returns how long it took.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// tablesHold is a condition: every node of nodes has want peers in its
// routing table.
func (n *testNet) tablesHold(want int, nodes ...int) func() error {
	return func() error {
		var errs []error
		for _, i := range nodes {
			st, err := n.status(i)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("node %d: %w", i, err))
			case st.RoutingTable.Size != want:
				errs = append(errs, fmt.Errorf("node %d holds %d peers", i, st.RoutingTable.Size))
			}
		}
		return errors.Join(errs...)
	}
}

// isUnavailable reports whether err is the node's 503 answer.
func isUnavailable(err error) bool {
	var apiErr *node.APIError
	return errors.As(err, &apiErr) && apiErr.Status == 503
}

// contextFor is a context that ends after d.
func contextFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// all returns 0..n-1.
func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
