package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pollInterval is how often readiness and routing tables are polled.
const pollInterval = 200 * time.Millisecond

// statusTimeout bounds one status or readiness request.
const statusTimeout = 2 * time.Second

// Node is one running node of a Cluster.
type Node struct {
	Spec   NodeSpec
	API    string // base URL of the HTTP API
	PeerID string
	Proc   *Process
	Alive  bool
}

// Cluster is N nodes of one system, started as separate processes.
type Cluster struct {
	sys    System
	client *APIClient
	procs  *ProcessGroup
	// dir, p2pBase and apiBase place node i (NodeSpec).
	dir              string
	p2pBase, apiBase int
	Nodes            []*Node
	// StatusTimeout bounds one GET /v1/status in statuses (statusTimeout
	// unless set): dhtnode recounts its records for it, which takes
	// seconds with tens of thousands of records on a busy machine.
	StatusTimeout time.Duration
	// Started is when the first node was started.
	Started time.Time
	// ReadyAfter is how long after Started every node answered /readyz.
	ReadyAfter time.Duration
	// Unexpected lists nodes that exited without being killed by the
	// benchmark; they count as dead from then on.
	Unexpected []string
}

// Settling is the outcome of WaitSettled.
type Settling struct {
	// Settled is the settle time (SettleDetector); zero when it timed out.
	Settled time.Duration
	// SettleTimedOut is set when the routing tables never settled in time.
	SettleTimedOut bool
	// RTSizes are the routing-table sizes at the end of settling.
	RTSizes []int
}

// StartCluster starts n nodes of sys: node 0 first, then, once its API
// reports its peer ID, nodes 1..n-1 in parallel with node 0 as their
// bootstrap peer. It returns once every node is ready (bounded by
// readyTimeout); the caller must KillAll the process group in any case.
func StartCluster(ctx context.Context, sys System, client *APIClient, procs *ProcessGroup, dir string,
	n, p2pBase, apiBase int, readyTimeout time.Duration) (*Cluster, error) {
	c := &Cluster{sys: sys, client: client, procs: procs, dir: dir, p2pBase: p2pBase, apiBase: apiBase, Started: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()

	n0, err := c.startNode(c.spec(0, ""))
	if err != nil {
		return c, err
	}
	st, err := c.waitStatus(ctx, n0)
	if err != nil {
		return c, err
	}
	n0.PeerID = st.PeerID
	boot := bootAddr(n0)
	for i := 1; i < n; i++ {
		if _, err := c.startNode(c.spec(i, boot)); err != nil {
			return c, err
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, nd := range c.Nodes {
		wg.Go(func() { errs[i] = c.waitReady(ctx, nd) })
	}
	wg.Wait()
	c.ReadyAfter = time.Since(c.Started)
	return c, errors.Join(errs...)
}

// spec places node i, bootstrapping from boot.
func (c *Cluster) spec(i int, boot string) NodeSpec {
	return NodeSpec{Index: i, Dir: filepath.Join(c.dir, fmt.Sprintf("node-%d", i)),
		P2PPort: c.p2pBase + i, APIPort: c.apiBase + i, Bootstrap: boot}
}

// bootAddr is nd's multiaddr with its peer ID, for --bootstrap.
func bootAddr(nd *Node) string {
	return fmt.Sprintf("%s/p2p/%s", nd.Spec.ListenAddr(), nd.PeerID)
}

// Join starts one more node, the next index, bootstrapping from via, and
// waits (bounded by readyTimeout) until it is ready.
func (c *Cluster) Join(ctx context.Context, via *Node, readyTimeout time.Duration) (*Node, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	nd, err := c.startNode(c.spec(len(c.Nodes), bootAddr(via)))
	if err != nil {
		return nil, err
	}
	return nd, c.waitReady(ctx, nd)
}

// startNode starts one node process.
func (c *Cluster) startNode(spec NodeSpec) (*Node, error) {
	// A node that cannot bind exits, but another process on its ports would
	// answer the readiness checks and the workload in its place.
	if err := checkPortsFree(spec.P2PPort, spec.APIPort); err != nil {
		return nil, fmt.Errorf("node %d: %w", spec.Index, err)
	}
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return nil, err
	}
	p, err := c.procs.Start(c.sys.Command(spec), filepath.Join(spec.Dir, "node.log"))
	if err != nil {
		return nil, err
	}
	nd := &Node{Spec: spec, API: spec.APIURL(), Proc: p, Alive: true}
	c.Nodes = append(c.Nodes, nd)
	return nd, nil
}

// poll calls check every pollInterval until it returns true, the node's
// process exits or ctx ends.
func (c *Cluster) poll(ctx context.Context, nd *Node, what string, check func(context.Context) bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, statusTimeout)
		ok := check(rctx)
		cancel()
		if ok {
			return nil
		}
		if exited, err := nd.Proc.Exited(); exited {
			return fmt.Errorf("node %d exited (%v) before %s; log tail:\n%s", nd.Spec.Index, err, what, logTail(nd))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d: waiting for %s: %w", nd.Spec.Index, what, ctx.Err())
		case <-t.C:
		}
	}
}

// waitStatus waits until the node answers GET /v1/status with a peer ID.
func (c *Cluster) waitStatus(ctx context.Context, nd *Node) (Status, error) {
	var st Status
	err := c.poll(ctx, nd, "status", func(ctx context.Context) bool {
		s, err := c.client.Status(ctx, nd.API)
		st = s
		return err == nil && s.PeerID != ""
	})
	return st, err
}

// waitReady waits until the node answers /readyz with 200 and records its
// peer ID.
func (c *Cluster) waitReady(ctx context.Context, nd *Node) error {
	if err := c.poll(ctx, nd, "readyz", func(ctx context.Context) bool { return c.client.Ready(ctx, nd.API) }); err != nil {
		return err
	}
	if nd.PeerID != "" {
		return nil
	}
	st, err := c.waitStatus(ctx, nd)
	nd.PeerID = st.PeerID
	return err
}

// statuses asks the nodes for GET /v1/status concurrently; a node that does
// not answer gets nil.
func (c *Cluster) statuses(ctx context.Context, nodes []*Node) []*Status {
	out := make([]*Status, len(nodes))
	var wg sync.WaitGroup
	for i, nd := range nodes {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, cmp.Or(c.StatusTimeout, statusTimeout))
			defer cancel()
			if st, err := c.client.Status(rctx, nd.API); err == nil {
				out[i] = &st
			}
		})
	}
	wg.Wait()
	return out
}

// RTSizes polls every node's routing-table size concurrently; a node that
// does not answer counts as -1.
func (c *Cluster) RTSizes(ctx context.Context) []int {
	sizes := make([]int, len(c.Nodes))
	for i, st := range c.statuses(ctx, c.Nodes) {
		sizes[i] = -1
		if st != nil {
			sizes[i] = st.RoutingTable.Size
		}
	}
	return sizes
}

// WaitSettled polls routing-table sizes until det reports settled or
// timeout passes. The settle time is measured from c.Started.
func (c *Cluster) WaitSettled(ctx context.Context, det *SettleDetector, timeout time.Duration) (Settling, error) {
	var ct Settling
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		now := time.Now()
		ct.RTSizes = c.RTSizes(ctx)
		if ok, at := det.Observe(now, ct.RTSizes); ok {
			ct.Settled = at.Sub(c.Started)
			return ct, nil
		}
		if now.After(deadline) {
			ct.SettleTimedOut = true
			return ct, nil
		}
		select {
		case <-ctx.Done():
			return ct, ctx.Err()
		case <-t.C:
		}
	}
}

// Live returns the nodes that have not been killed and are still running.
// A node found to have exited on its own is marked dead and recorded in
// Unexpected.
func (c *Cluster) Live() []*Node {
	var live []*Node
	for _, nd := range c.Nodes {
		if nd.Alive && c.checkExit(nd) {
			live = append(live, nd)
		}
	}
	return live
}

// checkExit reports whether a live node's process still runs, recording it
// in Unexpected when it does not.
func (c *Cluster) checkExit(nd *Node) bool {
	exited, err := nd.Proc.Exited()
	if !exited {
		return true
	}
	nd.Alive = false
	c.Unexpected = append(c.Unexpected, fmt.Sprintf("node %d exited on its own (%v); log tail:\n%s", nd.Spec.Index, err, logTail(nd)))
	logf("  node %d exited on its own (%v)", nd.Spec.Index, err)
	return false
}

// Kill SIGKILLs the given nodes.
func (c *Cluster) Kill(nodes []*Node) error {
	var errs []error
	for _, nd := range nodes {
		errs = append(errs, c.procs.Kill(nd.Proc))
		nd.Alive = false
	}
	return errors.Join(errs...)
}

// IdleCores measures the CPU all live nodes use over d while no client
// talks to them, in cores.
func (c *Cluster) IdleCores(ctx context.Context, d time.Duration) (float64, error) {
	before, err := c.Usage()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	after, err := c.Usage()
	if err != nil {
		return 0, err
	}
	return (after.CPU - before.CPU).Seconds() / time.Since(start).Seconds(), nil
}

// Usage is what the live node processes have used in all, so far.
type Usage struct {
	SchedStat   // run time and time slices
	MinorFaults uint64
}

// Usage sums the CPU time, time slices and minor page faults of every live
// node process.
func (c *Cluster) Usage() (Usage, error) {
	var total Usage
	for _, nd := range c.Live() {
		st, err := SchedStatOf(nd.Proc.Pid())
		var faults uint64
		if err == nil {
			faults, err = MinorFaults(nd.Proc.Pid())
		}
		if err != nil && !c.waitExit(nd) {
			continue // exited between Live and the read; its usage is lost
		}
		if err != nil {
			return Usage{}, fmt.Errorf("node %d: %w", nd.Spec.Index, err)
		}
		total.add(st)
		total.MinorFaults += faults
	}
	return total, nil
}

// Counters sums the replication counters of every live node. It reports
// false when a node does not answer or has no such counters (the baseline).
func (c *Cluster) Counters(ctx context.Context) (ReplicationCounters, bool) {
	var total ReplicationCounters
	for _, st := range c.statuses(ctx, c.Live()) {
		if st == nil || st.Replication == nil {
			return ReplicationCounters{}, false
		}
		total.add(*st.Replication)
	}
	return total, true
}

// Memory returns the resident memory of every live node.
func (c *Cluster) Memory() ([]Memory, error) {
	var out []Memory
	for _, nd := range c.Live() {
		m, err := MemoryOf(nd.Proc.Pid())
		if err != nil && !c.waitExit(nd) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", nd.Spec.Index, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// waitExit is checkExit for a node whose /proc entry just failed to read:
// it gives the reaper a moment to notice the exit.
func (c *Cluster) waitExit(nd *Node) bool {
	select {
	case <-nd.Proc.done:
	case <-time.After(time.Second):
	}
	return c.checkExit(nd)
}

// logTail returns the last lines of a node's log for error messages.
func logTail(nd *Node) string {
	b, err := os.ReadFile(filepath.Join(nd.Spec.Dir, "node.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// checkPortsFree fails if a TCP port on 127.0.0.1 is already taken.
func checkPortsFree(ports ...int) error {
	for _, port := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("port %d is in use (another benchmark or cluster still running?): %w", port, err)
		}
		l.Close()
	}
	return nil
}
