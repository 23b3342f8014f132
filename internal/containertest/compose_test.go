package containertest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestComposeFile has docker-compose (v1, as Debian ships it) read deploy/compose.yaml as a user's
// run would: the variables filled in, four nodes from one image, each API
// published on the host's loopback only, nodes 1.. bootstrapping from node 0
// by name. (The network itself was run by hand; README "Containers".)
func TestComposeFile(t *testing.T) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed")
	}
	cmd := exec.Command(compose, "-f", "../../deploy/compose.yaml", "config")
	cmd.Env = append(os.Environ(), "DHTNODE_TOKEN=secret", "SEED_ID=12D3KooWSeed", "DHTNODE_IMAGE=dhtnode:compose-test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	cfg := string(out)
	for _, want := range []string{
		"node-0:", "node-3:", "image: dhtnode:compose-test", "DHTNODE_API_TOKEN: secret",
		"DHTNODE_BOOTSTRAP: /dns4/node-0/tcp/4001/p2p/12D3KooWSeed",
		"127.0.0.1:5101:5001/tcp", "127.0.0.1:5104:5001/tcp", "data-0:/data",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("docker-compose config lacks %q:\n%s", want, cfg)
		}
	}
	for _, line := range strings.Split(cfg, "\n") {
		if strings.Contains(line, ":5001/tcp") && !strings.Contains(line, "127.0.0.1:") {
			t.Errorf("an API is published beyond the host's loopback: %s", line)
		}
	}

	cmd = exec.Command(compose, "-f", "../../deploy/compose.yaml", "config")
	cmd.Env = append(os.Environ(), "DHTNODE_TOKEN=")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "DHTNODE_TOKEN") {
		t.Errorf("compose without a token: %v\n%s", err, out)
	}
}
