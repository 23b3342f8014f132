package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

// network drives the network script and talks to the nodes' APIs.
type network struct {
	o       options
	clients []*node.Client
	log     func(format string, args ...any)

	mu   sync.Mutex
	pids []int // the nodes' host PIDs as of the last refreshPIDs
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

// readPIDs reads the nodes' host PIDs from the script's status table (the
// fourth column in both scripts), 0 for a node that does not run.
func (n *network) readPIDs(ctx context.Context) ([]int, error) {
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

// refreshPIDs reads the nodes' PIDs again; a node's PID changes only when
// it starts.
func (n *network) refreshPIDs(ctx context.Context) error {
	pids, err := n.readPIDs(ctx)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.pids = pids
	n.mu.Unlock()
	return nil
}

// signal sends sig to node i's process (a container's PID 1 as seen from
// the host), as of the last refreshPIDs.
func (n *network) signal(i int, sig syscall.Signal) error {
	n.mu.Lock()
	pid := 0
	if i < len(n.pids) {
		pid = n.pids[i]
	}
	n.mu.Unlock()
	if pid <= 0 {
		return fmt.Errorf("node %d has no process", i)
	}
	// Never signal a process that is not a dhtnode (a PID reused after
	// the node's process ended).
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !bytes.Contains(cmdline, []byte("dhtnode")) {
		return fmt.Errorf("node %d: PID %d is not a dhtnode any more", i, pid)
	}
	return syscall.Kill(pid, sig)
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
