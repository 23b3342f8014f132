package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterScript runs scripts/cluster.sh as a user would: up 3, a put and
// gets through the CLI, a SIGKILL and restart that must lose nothing
// acknowledged, and down. Every node is a separate dhtnode process.
func TestClusterScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "dhtnode")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	// A random port block, so that two test runs on one machine (two
	// checkouts, say) do not collide; below Linux's ephemeral range
	// (32768-60999), where outgoing connections take their local ports.
	basePort := 20000 + 10*rand.IntN(600)
	apiBase := basePort + 6000
	env := append(os.Environ(),
		"DHTNODE_BIN="+bin,
		"CLUSTER_DIR="+filepath.Join(tmp, "cluster"),
		fmt.Sprintf("BASE_PORT=%d", basePort), fmt.Sprintf("API_BASE_PORT=%d", apiBase),
		"STOP_TIMEOUT=10", "READY_TIMEOUT=60",
	)
	script := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", append([]string{"../../scripts/cluster.sh"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() {
		cmd := exec.Command("bash", "../../scripts/cluster.sh", "down")
		cmd.Env = env
		_ = cmd.Run()
	})
	cli := func(node int, stdin string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--api", fmt.Sprintf("http://127.0.0.1:%d", apiBase+node))...)
		cmd.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}

	up := script("up", "3")
	if !strings.Contains(up, fmt.Sprintf("http://127.0.0.1:%d", apiBase+2)) {
		t.Fatalf("up printed no table with node 2's API:\n%s", up)
	}
	if out, code := cli(0, "from stdin", "put", "greeting", "-", "--w", "2"); code != 0 {
		t.Fatalf("put: exit %d: %s", code, out)
	}
	for i := range 3 {
		if out, code := cli(i, "", "get", "greeting"); code != 0 || out != "from stdin" {
			t.Fatalf("get via node %d: exit %d: %q", i, code, out)
		}
	}
	if _, code := cli(1, "", "get", "absent"); code != 1 {
		t.Fatalf("get of an absent key exited %d, want 1", code)
	}

	// SIGKILL two nodes, restart them: the acknowledged write is still there.
	script("kill", "1")
	script("kill", "2")
	script("start", "1")
	script("start", "2")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, code := cli(2, "", "get", "greeting", "--r", "3")
		if code == 0 && out == "from stdin" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGKILL and restart: exit %d: %q", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Stopping prints nothing about a node's /proc entry vanishing under it.
	for _, out := range []string{script("stop", "1"), script("down")} {
		if strings.Contains(out, "No such file") || strings.Contains(out, "/proc/") {
			t.Errorf("stop/down printed a shell error:\n%s", out)
		}
	}
}
