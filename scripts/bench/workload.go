package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"
)

// maxSampleErrors is how many distinct error messages a phase keeps.
const maxSampleErrors = 5

// Op is one planned key: its value, the node that puts it and the (other)
// node that reads it back.
type Op struct {
	Key     string
	Value   []byte
	PutNode *Node
	GetNode *Node
}

// PlanOps plans count distinct keys named prefix-0000... with random values
// of valueSize bytes, put from a random client node and read from another
// random client node (the same one only when there is a single client node).
func PlanOps(rng *rand.Rand, prefix string, count, valueSize int, clientNodes []*Node) []Op {
	ops := make([]Op, count)
	for i := range ops {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		put := rng.IntN(len(clientNodes))
		get := put
		if len(clientNodes) > 1 {
			get = (put + 1 + rng.IntN(len(clientNodes)-1)) % len(clientNodes)
		}
		ops[i] = Op{Key: fmt.Sprintf("%s-%04d", prefix, i), Value: v, PutNode: clientNodes[put], GetNode: clientNodes[get]}
	}
	return ops
}

// PhaseResult is what one phase of operations measured.
type PhaseResult struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	Ops     int    `json:"ops"`
	OK      int    `json:"ok"`
	// SuccessRate is OK/Ops; a get counts only if it returned exactly the
	// bytes that were put.
	SuccessRate float64 `json:"success_rate"`
	WallSeconds float64 `json:"wall_seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	// Latency covers every attempt, failed ones included.
	Latency LatencySummary `json:"latency"`
	// CPUSeconds is the nodes' CPU time (scheduler run time) during the phase; CPUMsPerOp
	// divides it by Ops.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUMsPerOp float64 `json:"cpu_ms_per_op"`
	// FaultsPerOp is the nodes' minor page faults during the phase per op.
	FaultsPerOp float64 `json:"minor_faults_per_op"`
	// SlicesPerOp is how many times the nodes' threads were put on a CPU
	// during the phase, per op: their wake-ups, a steadier measure of the
	// work per op than CPU time on a shared machine.
	SlicesPerOp float64 `json:"time_slices_per_op"`
	// ClientCPUMsPerOp is the benchmark process's own CPU time (user +
	// system, all its goroutines) during the phase per op: on a small
	// machine the clients compete with the nodes for the same cores.
	ClientCPUMsPerOp float64 `json:"client_cpu_ms_per_op"`
	// Counters is what dhtnode's own counters saw during the phase, summed
	// over the nodes (nil for the baseline): hedged reads, and repair work a
	// phase may inherit from the one before it.
	Counters *ReplicationCounters `json:"counters,omitempty"`
	Errors   []string             `json:"errors,omitempty"`
}

// RunPhase runs fn(ctx, i) for i in [0, ops) with the given number of
// concurrent clients, each call bounded by opTimeout, and measures latency,
// throughput and the cluster's CPU time. A nil error from fn is a success.
func RunPhase(ctx context.Context, c *Cluster, name string, ops, clients int, opTimeout time.Duration,
	fn func(ctx context.Context, i int) error) (PhaseResult, error) {
	res := PhaseResult{Name: name, Clients: clients, Ops: ops}
	// Counters are read outside the window whose CPU time is measured: the
	// status requests cost the nodes a little.
	counted0, counting := c.Counters(ctx)
	use0, err := c.Usage()
	if err != nil {
		return res, err
	}
	self0 := selfCPU()
	lat := make([]time.Duration, ops)
	okc := make([]bool, ops)
	errs := make([]error, ops)
	start := time.Now()
	ForEach(ctx, ops, clients, func(i int) {
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		t := time.Now()
		errs[i] = fn(octx, i)
		lat[i] = time.Since(t)
		okc[i] = errs[i] == nil
	})
	wall := time.Since(start)
	self1 := selfCPU()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	use1, err := c.Usage()
	if err != nil {
		return res, err
	}
	if counting { // a system without the counters is not asked again
		if counted1, ok := c.Counters(ctx); ok {
			d := counted1.since(counted0)
			res.Counters = &d
		}
	}
	seen := map[string]bool{}
	for i := range ops {
		if okc[i] {
			res.OK++
		} else if msg := errs[i].Error(); !seen[msg] && len(res.Errors) < maxSampleErrors {
			seen[msg] = true
			res.Errors = append(res.Errors, msg)
		}
	}
	if ops > 0 {
		res.SuccessRate = float64(res.OK) / float64(ops)
		res.CPUSeconds = (use1.CPU - use0.CPU).Seconds()
		res.CPUMsPerOp = res.CPUSeconds * 1000 / float64(ops)
		res.FaultsPerOp = float64(use1.MinorFaults-use0.MinorFaults) / float64(ops)
		res.SlicesPerOp = float64(use1.Slices-use0.Slices) / float64(ops)
		res.ClientCPUMsPerOp = (self1 - self0).Seconds() * 1000 / float64(ops)
	}
	res.WallSeconds = wall.Seconds()
	if wall > 0 {
		res.OpsPerSec = float64(ops) / wall.Seconds()
	}
	res.Latency = SummarizeLatencies(lat)
	return res, nil
}

// ForEach calls fn(i) for every i in [0, n) from `workers` goroutines and
// returns when all calls have returned. Once ctx ends, no new calls start.
func ForEach(ctx context.Context, n, workers int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
}

// putOp returns a phase function that puts ops[i] through its put node.
func putOp(client *APIClient, ops []Op) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		return client.Put(ctx, ops[i].PutNode.API, ops[i].Key, ops[i].Value)
	}
}

// getOp returns a phase function that reads ops[i] through node(i) and
// checks the bytes.
func getOp(client *APIClient, ops []Op, node func(i int) *Node) func(context.Context, int) error {
	return func(ctx context.Context, i int) error {
		got, err := client.Get(ctx, node(i).API, ops[i].Key)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, ops[i].Value) {
			return fmt.Errorf("get %q from node %d: %d bytes, not the %d bytes put", ops[i].Key, node(i).Spec.Index, len(got), len(ops[i].Value))
		}
		return nil
	}
}

// WorkloadResult holds the four workload phases and the memory after them.
type WorkloadResult struct {
	ConcurrentPut PhaseResult  `json:"concurrent_put"`
	ConcurrentGet PhaseResult  `json:"concurrent_get"`
	SerialPut     PhaseResult  `json:"serial_put"`
	SerialGet     PhaseResult  `json:"serial_get"`
	RSSMiB        CountSummary `json:"rss_mib"`
	PrivateMiB    CountSummary `json:"private_mib"` // RssAnon: VmRSS less the shared executable pages
	PSSMiB        CountSummary `json:"pss_mib"`     // proportional set size: shared pages split among their users
}

// RunWorkload puts and gets a fresh set of keys twice: with opts.Clients
// concurrent clients, then serially. It returns the results and the ops
// whose put was acknowledged.
func RunWorkload(ctx context.Context, c *Cluster, client *APIClient, rng *rand.Rand, clientNodes []*Node, opts Options) (WorkloadResult, []Op, error) {
	var wr WorkloadResult
	var acked []Op
	rounds := []struct {
		prefix   string
		clients  int
		put, get *PhaseResult
	}{
		{"conc", opts.Clients, &wr.ConcurrentPut, &wr.ConcurrentGet},
		{"serial", 1, &wr.SerialPut, &wr.SerialGet},
	}
	for _, r := range rounds {
		ops := PlanOps(rng, fmt.Sprintf("bench-%d-%s", opts.Seed, r.prefix), opts.Puts, opts.ValueSize, clientNodes)
		putErrs := make([]bool, opts.Puts)
		put := putOp(client, ops)
		var err error
		*r.put, err = RunPhase(ctx, c, r.prefix+"-put", opts.Puts, r.clients, opts.OpTimeout, func(ctx context.Context, i int) error {
			err := put(ctx, i)
			putErrs[i] = err != nil
			return err
		})
		if err != nil {
			return wr, nil, err
		}
		for i := range opts.Puts {
			if !putErrs[i] {
				acked = append(acked, ops[i])
			}
		}
		// Gets cycle over the keys put when -gets exceeds -puts.
		getOps := make([]Op, opts.Gets)
		for i := range getOps {
			getOps[i] = ops[i%opts.Puts]
		}
		*r.get, err = RunPhase(ctx, c, r.prefix+"-get", opts.Gets, r.clients, opts.OpTimeout,
			getOp(client, getOps, func(i int) *Node { return getOps[i].GetNode }))
		if err != nil {
			return wr, nil, err
		}
	}
	mem, err := c.Memory()
	if err != nil {
		return wr, nil, err
	}
	mib := func(f func(Memory) int64) CountSummary {
		vs := make([]float64, len(mem))
		for i, m := range mem {
			vs[i] = float64(f(m)) / (1 << 20)
		}
		return SummarizeCounts(vs)
	}
	wr.RSSMiB = mib(func(m Memory) int64 { return m.RSS })
	wr.PrivateMiB = mib(func(m Memory) int64 { return m.Private })
	wr.PSSMiB = mib(func(m Memory) int64 { return m.PSS })
	return wr, acked, nil
}

// selfCPU is the benchmark process's CPU time so far (user + system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
