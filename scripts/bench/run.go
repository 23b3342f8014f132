package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// RunResult is every figure of one system at one cluster size.
type RunResult struct {
	System      string `json:"system"`
	Nodes       int    `json:"nodes"`
	ClientNodes int    `json:"client_nodes"`
	// Error is set when the run could not finish; figures measured before
	// the error are kept.
	Error          string       `json:"error,omitempty"`
	ReadySeconds   float64      `json:"ready_seconds"`
	SettleSeconds  float64      `json:"settle_seconds"`
	SettleTimedOut bool         `json:"settle_timed_out"`
	SettleTarget   int          `json:"settle_target"`
	RTSizes        CountSummary `json:"rt_sizes"`
	// IdleCores is the CPU the settled, idle network used, in cores
	// (all nodes together), measured over Options.Idle before the workload.
	IdleCores   float64         `json:"idle_cores"`
	Workload    *WorkloadResult `json:"workload,omitempty"`
	AckedKeys   int             `json:"acked_keys"`
	Failures    []FailureStep   `json:"failures,omitempty"`
	WallSeconds float64         `json:"wall_seconds"`
	// UnexpectedExits lists nodes that died without being killed.
	UnexpectedExits []string `json:"unexpected_exits,omitempty"`
}

// newSystem returns the System called name.
func newSystem(name string, o Options) System {
	if name == "dhtnode" {
		return dhtnodeSystem{bin: o.DhtnodeBin, extra: o.DhtnodeArgs}
	}
	return baselineSystem{bin: o.BaselineBin}
}

// RunOne benchmarks one system with n nodes: start and settle, the
// workload, then the failure steps. Every process it starts is killed
// before it returns.
func RunOne(ctx context.Context, sys System, n int, client *APIClient, o Options) RunResult {
	start := time.Now()
	res := RunResult{System: sys.Name(), Nodes: n}
	procs := &ProcessGroup{}
	defer func() {
		if err := procs.KillAll(); err != nil {
			logf("  cleanup: %v", err)
		}
		client.CloseIdle()
		res.WallSeconds = time.Since(start).Seconds()
	}()
	if err := runOne(ctx, sys, n, client, procs, o, &res); err != nil {
		res.Error = err.Error()
		logf("  %s N=%d failed: %v", sys.Name(), n, err)
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res
}

// runOne fills res step by step and stops at the first error.
func runOne(ctx context.Context, sys System, n int, client *APIClient, procs *ProcessGroup, o Options, res *RunResult) error {
	dir := filepath.Join(o.Out, fmt.Sprintf("%s-n%d", sys.Name(), n))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// The same seed and N give both systems the same keys, values, client
	// nodes and victims (by index).
	rng := rand.New(rand.NewPCG(o.Seed, uint64(n)))

	logf("%s N=%d: starting nodes (logs in %s)", sys.Name(), n, dir)
	c, err := StartCluster(ctx, sys, client, procs, dir, n, o.BasePort, o.APIBasePort, o.ReadyTimeout)
	defer func() { res.UnexpectedExits = c.Unexpected }()
	if err != nil {
		return err
	}
	res.ReadySeconds = c.ReadyAfter.Seconds()

	det := NewSettleDetector(n, o.SettleTarget, o.SettleWindow)
	res.SettleTarget = det.Target
	st, err := c.WaitSettled(ctx, det, o.SettleTimeout)
	res.SettleSeconds, res.SettleTimedOut = st.Settled.Seconds(), st.SettleTimedOut
	res.RTSizes = SummarizeCounts(intsToFloats(st.RTSizes))
	if err != nil {
		return err
	}
	logf("  ready after %.2fs, settled after %.2fs (timed out: %v), RT sizes min %v max %v",
		res.ReadySeconds, res.SettleSeconds, res.SettleTimedOut, res.RTSizes.Min, res.RTSizes.Max)

	if o.Idle > 0 {
		if res.IdleCores, err = c.IdleCores(ctx, o.Idle); err != nil {
			return err
		}
		logf("  idle network: %.2f CPU cores over %v", res.IdleCores, o.Idle)
	}

	perm := rng.Perm(n)
	clientNodes := make([]*Node, ClientNodeCount(n, o.ClientFrac))
	for i := range clientNodes {
		clientNodes[i] = c.Nodes[perm[i]]
	}
	res.ClientNodes = len(clientNodes)
	first, second := ChooseVictims(rng, c.Nodes, clientNodes, o.Kill1, o.Kill2)

	logf("  workload: %d puts + %d gets with %d clients, then serially", o.Puts, o.Gets, o.Clients)
	wr, acked, err := RunWorkload(ctx, c, client, rng, clientNodes, o)
	if err != nil {
		return err
	}
	res.Workload, res.AckedKeys = &wr, len(acked)

	logf("  failures: %d acknowledged keys", len(acked))
	res.Failures, err = RunFailures(ctx, c, sys, client, rng, clientNodes, acked, [][]*Node{first, second}, o)
	return err
}

// intsToFloats converts for SummarizeCounts.
func intsToFloats(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}
