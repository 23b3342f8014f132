package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

// network drives the network script and talks to the nodes' APIs.
type network struct {
	o       options
	clients []*node.Client
	log     func(format string, args ...any)
}

// newNetwork reads the script's environment (API_BASE_PORT, DHTNODE_TOKEN)
// and makes one API client per node.
func newNetwork(o options, log func(string, ...any)) (*network, error) {
	o.apiBase = 5101
	if v := os.Getenv("API_BASE_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("API_BASE_PORT=%q is not a number", v)
		}
		o.apiBase = p
	}
	help, _ := exec.Command("bash", o.script, "help").CombinedOutput()
	o.hasFaults = bytes.Contains(help, []byte("partition"))
	n := &network{o: o, log: log}
	for i := range o.nodes {
		n.clients = append(n.clients, node.NewClient(fmt.Sprintf("http://127.0.0.1:%d", o.apiBase+i), os.Getenv("DHTNODE_TOKEN")))
	}
	return n, nil
}

// script runs the network script with args.
func (n *network) script(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "bash", append([]string{n.o.script}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", n.o.script, strings.Join(args, " "), err, lastLines(out, 5))
	}
	return nil
}

// pids reads the nodes' host PIDs from the script's status table (the
// fourth column in both scripts), 0 for a node that does not run.
func (n *network) pids(ctx context.Context) ([]int, error) {
	out, err := exec.CommandContext(ctx, "bash", n.o.script, "status").Output()
	if err != nil {
		return nil, fmt.Errorf("%s status: %v", n.o.script, err)
	}
	pids := make([]int, n.o.nodes)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		i, err1 := strconv.Atoi(f[0])
		pid, err2 := strconv.Atoi(f[3])
		if err1 == nil && err2 == nil && i >= 0 && i < n.o.nodes {
			pids[i] = pid
		}
	}
	return pids, nil
}

// signal sends sig to node i's process (a container's PID 1 as seen from
// the host).
func (n *network) signal(ctx context.Context, i int, sig syscall.Signal) error {
	pids, err := n.pids(ctx)
	if err != nil {
		return err
	}
	if pids[i] <= 0 {
		return fmt.Errorf("node %d has no process", i)
	}
	return syscall.Kill(pids[i], sig)
}

// tablesWhole reports the nodes whose routing tables do not hold every
// other node.
func (n *network) tablesWhole(ctx context.Context) []string {
	var bad []string
	for i, c := range n.clients {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := c.Status(cctx)
		cancel()
		if err != nil {
			bad = append(bad, fmt.Sprintf("node %d: %v", i, err))
		} else if st.RoutingTable.Size != n.o.nodes-1 {
			bad = append(bad, fmt.Sprintf("node %d holds %d peers", i, st.RoutingTable.Size))
		}
	}
	return bad
}

func lastLines(b []byte, n int) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(l[max(0, len(l)-n):], " | ")
}
