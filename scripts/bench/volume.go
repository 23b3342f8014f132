package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// The volume mode (-keys N, issue 20): load many keys through the HTTP API,
// then measure what the stored data costs at rest, how long re-replication
// takes after one node and then a wave of nodes are SIGKILLed, and how long
// a fresh node takes to catch up.

// VolumeResult is every figure of one system's volume run.
type VolumeResult struct {
	System      string `json:"system"`
	Nodes       int    `json:"nodes"`
	ClientNodes int    `json:"client_nodes"`
	Keys        int    `json:"keys"`
	ValueSize   int    `json:"value_size"`
	// Error is set when the run could not finish; what was measured before
	// it is kept.
	Error         string        `json:"error,omitempty"`
	ReadySeconds  float64       `json:"ready_seconds"`
	SettleSeconds float64       `json:"settle_seconds"`
	Load          *LoadResult   `json:"load,omitempty"`
	Stored        *StoredResult `json:"stored,omitempty"`
	Rest          *RestResult   `json:"rest,omitempty"`
	Kills         []KillStep    `json:"kills,omitempty"`
	Join          *JoinResult   `json:"join,omitempty"`
	WallSeconds   float64       `json:"wall_seconds"`
	// LoadAvg is the machine's load average (1, 5, 15 min) at the start
	// and the end of the run: other work on the machine shares its cores.
	LoadAvg [2]string `json:"load_avg"`
	// UnexpectedExits lists nodes that died without being killed.
	UnexpectedExits []string `json:"unexpected_exits,omitempty"`
}

// LoadResult is the load of every key with opts.Clients clients.
type LoadResult struct {
	PhaseResult
	// MedianPutsPerSec is the median of the acknowledged puts per second
	// of the load.
	MedianPutsPerSec float64 `json:"median_puts_per_sec"`
	Failed           int     `json:"failed"`
	// NotTried counts the keys -load-timeout left out (they count in Ops
	// and Failed too).
	NotTried int `json:"not_tried"`
	// Batch is the keys per request (-batch; 0: one PUT per key). With
	// batches, Ops, OK, the rates and the per-op figures still count keys;
	// Latency is each key's, which is its batch's, and BatchLatency the
	// batches' own (unweighted), over Batches requests.
	Batch        int             `json:"batch"`
	Batches      int             `json:"batches,omitempty"`
	BatchLatency *LatencySummary `json:"batch_latency,omitempty"`
}

// StoredResult is what the nodes hold once the load is done and no node
// counts an under-replicated record (dhtnode) any more.
type StoredResult struct {
	// Quiet is how long after the load every node reported no
	// under-replicated record (the snapshot is taken then); nil for a
	// system without the count (the baseline).
	Quiet *Wait `json:"quiet,omitempty"`
	// DiskMiB is the disk use of each node's data directory; nil for a
	// system that keeps its records in memory (the baseline).
	DiskMiB *CountSummary `json:"disk_mib,omitempty"`
	RSSMiB  CountSummary  `json:"rss_mib"`
	// Records and StoredBytes are from dhtnode's /v1/status (records.count
	// per node, records.bytes summed); nil/0 for the baseline.
	Records     *CountSummary `json:"records,omitempty"`
	StoredBytes int64         `json:"stored_bytes"`
}

// KillStep is one SIGKILL step and what followed it.
type KillStep struct {
	Name        string `json:"name"`
	Killed      int    `json:"killed"`
	KilledTotal int    `json:"killed_total"`
	LiveNodes   int    `json:"live_nodes"`
	// Expected is the live holders each key should have: min(k, live).
	Expected int `json:"expected"`
	// Repaired is how long after the kill every live node reported no
	// under-replicated record and every sampled key had Expected live
	// holders; nil for a system without repair (the baseline).
	Repaired *Wait `json:"repaired,omitempty"`
	// NoUnderSeconds is when a check first found no live node counting an
	// under-replicated record (the sample may still have been short then);
	// 0 when none did or for the baseline.
	NoUnderSeconds float64 `json:"no_under_replicated_seconds"`
	// SampleHolders counts the live holders of each sampled key once
	// Repaired held or timed out (at once for the baseline).
	SampleHolders ReplicaCounts `json:"-"`
	Holders       CountSummary  `json:"holders"`
	HolderErrors  int           `json:"holder_errors"`
	// Read reads every sampled key back through the client-facing nodes;
	// Lost is how many did not come back with the bytes put.
	Read PhaseResult `json:"read"`
	Lost int         `json:"lost"`
	// CopiesLost are the records the victims held when they were killed;
	// Moved and RepairBytesSent are the growth of the survivors'
	// repairs_total and repair_bytes_sent_total from the kill until
	// Repaired held (dhtnode; 0 otherwise): Moved / CopiesLost is the
	// records moved per copy to replace.
	CopiesLost      int    `json:"copies_lost,omitempty"`
	Moved           uint64 `json:"moved,omitempty"`
	RepairBytesSent uint64 `json:"repair_bytes_sent,omitempty"`
}

// repairTotals sums the records, repairs_total and repair_bytes_sent_total
// of the nodes that answer.
func repairTotals(sts []*Status) (records int, repairs, sent uint64) {
	for _, st := range sts {
		if st == nil {
			continue
		}
		if st.Records != nil {
			records += st.Records.Count
		}
		if st.Replication != nil {
			repairs += st.Replication.Repairs
			if st.Replication.RepairBytesSent != nil {
				sent += *st.Replication.RepairBytesSent
			}
		}
	}
	return records, repairs, sent
}

// JoinResult is a fresh node's catch-up.
type JoinResult struct {
	// CaughtUp is how long after its start the node's record count last
	// changed before it stayed unchanged for -catchup-window.
	CaughtUp        *Wait   `json:"caught_up"`
	CaughtUpSeconds float64 `json:"caught_up_seconds"`
	Records         int     `json:"records"`
	// Expected is keys*min(k,live)/live for the acknowledged keys: an even share.
	Expected float64 `json:"expected"`
}

// RunVolume runs the volume mode for one system with n nodes. Every process
// it starts is killed before it returns.
func RunVolume(ctx context.Context, sys System, n int, client *APIClient, o Options) VolumeResult {
	start := time.Now()
	res := VolumeResult{System: sys.Name(), Nodes: n, Keys: o.Keys, ValueSize: o.ValueSize}
	res.LoadAvg[0] = loadAvg()
	procs := &ProcessGroup{}
	defer func() {
		if err := procs.KillAll(); err != nil {
			logf("  cleanup: %v", err)
		}
		client.CloseIdle()
	}()
	if err := runVolume(ctx, sys, n, client, procs, o, &res); err != nil {
		res.Error = err.Error()
		logf("  %s N=%d volume failed: %v", sys.Name(), n, err)
	}
	res.WallSeconds = time.Since(start).Seconds()
	res.LoadAvg[1] = loadAvg()
	logf("  %s N=%d volume run took %.0f s; load average %s at the start, %s at the end",
		sys.Name(), n, res.WallSeconds, res.LoadAvg[0], res.LoadAvg[1])
	return res
}

// volumeRun is the state one volume run carries from phase to phase.
type volumeRun struct {
	c           *Cluster
	sys         System
	client      *APIClient
	o           Options
	rng         *rand.Rand
	clientNodes []*Node
	k           int // replication factor reported by the nodes (0: none)
}

// runVolume fills res phase by phase and stops at the first error.
func runVolume(ctx context.Context, sys System, n int, client *APIClient, procs *ProcessGroup, o Options, res *VolumeResult) error {
	dir := filepath.Join(o.Out, fmt.Sprintf("volume-%s-n%d", sys.Name(), n))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(o.Seed, uint64(n)))
	logf("%s N=%d volume: starting nodes (logs in %s)", sys.Name(), n, dir)
	c, err := StartCluster(ctx, sys, client, procs, dir, n, o.BasePort, o.APIBasePort, o.ReadyTimeout)
	defer func() { res.UnexpectedExits = c.Unexpected }()
	if err != nil {
		return err
	}
	res.ReadySeconds = c.ReadyAfter.Seconds()
	c.StatusTimeout = o.OpTimeout
	st, err := c.WaitSettled(ctx, NewSettleDetector(n, o.SettleTarget, o.SettleWindow), o.SettleTimeout)
	res.SettleSeconds = st.Settled.Seconds()
	if err != nil {
		return err
	}
	logf("  ready after %.1fs, settled after %.1fs", res.ReadySeconds, res.SettleSeconds)

	v := &volumeRun{c: c, sys: sys, client: client, o: o, rng: rng}
	perm := rng.Perm(n)
	v.clientNodes = make([]*Node, ClientNodeCount(n, o.ClientFrac))
	for i := range v.clientNodes {
		v.clientNodes[i] = c.Nodes[perm[i]]
	}
	res.ClientNodes = len(v.clientNodes)
	logf("  client-facing nodes: %v", nodeIndexes(v.clientNodes))
	one, wave := ChooseVictims(rng, c.Nodes, v.clientNodes, 1/float64(n), o.KillWave)
	if st := c.statuses(ctx, v.clientNodes[:1])[0]; st != nil && st.Replication != nil {
		v.k = st.Replication.Factor
	}

	ops := PlanOps(rng, fmt.Sprintf("vol-%d", o.Seed), o.Keys, o.ValueSize, v.clientNodes)
	batch := 0
	if _, ok := sys.(dhtnodeSystem); ok {
		batch = o.Batch // the baseline has no batch route
	}
	logf("  loading %d keys of %d B with %d clients (batch %d)", o.Keys, o.ValueSize, o.Clients, batch)
	var load LoadResult
	var acked []Op
	waitProfiles := func() error { return nil }
	if o.LoadProfile != "" {
		waitProfiles = profileLoad(ctx, c, filepath.Join(o.LoadProfile, sys.Name()), o.LoadProfileAfter, o.LoadProfileFor)
	}
	if batch > 0 {
		load, acked, err = v.loadBatches(ctx, ops, batch)
	} else {
		load, acked, err = v.load(ctx, ops)
	}
	res.Load = &load
	if perr := waitProfiles(); perr != nil {
		logf("  load profiles: %v", perr)
	}
	if err != nil {
		return err
	}
	logf("  load: %d ok, %d failed, median %.0f puts/s (overall %.0f/s, %.0f s)",
		load.OK, load.Failed, load.MedianPutsPerSec, load.OpsPerSec, load.WallSeconds)
	if len(acked) < o.Sample {
		return fmt.Errorf("only %d keys acknowledged, fewer than -sample %d", len(acked), o.Sample)
	}
	sample := make([]Op, o.Sample)
	for i, j := range rng.Perm(len(acked))[:o.Sample] {
		sample[i] = acked[j]
	}

	if res.Stored, err = v.stored(ctx); err != nil {
		return err
	}
	logf("  stored: RSS median %.1f MiB max %.1f MiB", res.Stored.RSSMiB.Median, res.Stored.RSSMiB.Max)
	if o.Rest > 0 {
		logf("  at rest for %s", o.Rest)
		if res.Rest, err = v.rest(ctx, res.Stored.StoredBytes); err != nil {
			return err
		}
		logf("  rest: CPU per node median %.3f max %.3f cores", res.Rest.CPUCores.Median, res.Rest.CPUCores.Max)
	}

	killed := 0
	for i, victims := range [][]*Node{one, wave} {
		killed += len(victims)
		step, err := v.kill(ctx, fmt.Sprintf("kill-%d", i+1), victims, killed, sample)
		res.Kills = append(res.Kills, step)
		if err != nil {
			return err
		}
	}

	if v.k == 0 { // no record counts to follow (the baseline)
		return nil
	}
	res.Join, err = v.join(ctx, len(acked))
	return err
}

// load puts every key, ops[i] through its put node, and returns the keys
// acknowledged.
func (v *volumeRun) load(ctx context.Context, ops []Op) (LoadResult, []Op, error) {
	var lr LoadResult
	done := make([]time.Duration, len(ops))
	acked := make([]bool, len(ops))
	var notTried atomic.Int64
	put := putOp(v.client, ops)
	start := time.Now()
	deadline := start.Add(v.o.LoadTimeout)
	errNotTried := errors.New("not tried: -load-timeout passed")
	var err error
	lr.PhaseResult, err = RunPhase(ctx, v.c, "load", len(ops), v.o.Clients, v.o.OpTimeout, func(ctx context.Context, i int) error {
		if time.Now().After(deadline) {
			notTried.Add(1)
			return errNotTried
		}
		if err := put(ctx, i); err != nil {
			return err
		}
		done[i], acked[i] = time.Since(start), true
		return nil
	})
	if err != nil {
		return lr, nil, err
	}
	var ok []Op
	var times []time.Duration
	for i, a := range acked {
		if a {
			ok = append(ok, ops[i])
			times = append(times, done[i])
		}
	}
	lr.NotTried = int(notTried.Load())
	lr.Failed = lr.Ops - lr.OK
	lr.MedianPutsPerSec = MedianRate(times, time.Duration(lr.WallSeconds*float64(time.Second)))
	return lr, ok, nil
}

// loadBatches is load with batches of up to size keys, each batch the
// keys of one client-facing node (PlanBatches); the phase's figures are
// turned back into keys.
func (v *volumeRun) loadBatches(ctx context.Context, ops []Op, size int) (LoadResult, []Op, error) {
	lr := LoadResult{Batch: size}
	batches := PlanBatches(ops, size)
	done := make([]time.Duration, len(ops))
	acked := make([]bool, len(ops))
	took := make([]time.Duration, len(batches))
	var notTried atomic.Int64
	start := time.Now()
	deadline := start.Add(v.o.LoadTimeout)
	errNotTried := errors.New("not tried: -load-timeout passed")
	var err error
	lr.PhaseResult, err = RunPhase(ctx, v.c, "load", len(batches), v.o.Clients, v.o.OpTimeout, func(ctx context.Context, b int) error {
		if time.Now().After(deadline) {
			notTried.Add(int64(len(batches[b])))
			return errNotTried
		}
		entries := make([]BatchEntry, len(batches[b]))
		for j, i := range batches[b] {
			entries[j] = BatchEntry{Key: ops[i].Key, Value: ops[i].Value}
		}
		t := time.Now()
		res, err := v.client.PutBatch(ctx, ops[batches[b][0]].PutNode.API, entries)
		took[b] = time.Since(t)
		if err != nil {
			return err
		}
		at := time.Since(start)
		failed := 0
		var first error
		for j, i := range batches[b] {
			if res[j].Code != "" {
				failed++
				if first == nil {
					first = fmt.Errorf("%s: %s %s", res[j].Key, res[j].Code, res[j].Error)
				}
				continue
			}
			done[i], acked[i] = at, true
		}
		if failed > 0 {
			return fmt.Errorf("%d of %d keys of a batch failed, first %w", failed, len(entries), first)
		}
		return nil
	})
	if err != nil {
		return lr, nil, err
	}
	lr.Batches = len(batches)
	batchLat := lr.Latency
	lr.BatchLatency = &batchLat
	var ok []Op
	var times []time.Duration
	perKey := make([]time.Duration, 0, len(ops))
	for b, idx := range batches {
		for range idx {
			perKey = append(perKey, took[b])
		}
	}
	for i, a := range acked {
		if a {
			ok = append(ok, ops[i])
			times = append(times, done[i])
		}
	}
	perBatch := float64(len(batches)) / float64(max(len(ops), 1))
	lr.Ops, lr.OK = len(ops), len(ok)
	lr.SuccessRate = float64(lr.OK) / float64(max(lr.Ops, 1))
	lr.CPUMsPerOp *= perBatch
	lr.FaultsPerOp *= perBatch
	lr.SlicesPerOp *= perBatch
	lr.ClientCPUMsPerOp *= perBatch
	if lr.WallSeconds > 0 {
		lr.OpsPerSec = float64(lr.Ops) / lr.WallSeconds
	}
	lr.Latency = SummarizeLatencies(perKey)
	lr.NotTried = int(notTried.Load())
	lr.Failed = lr.Ops - lr.OK
	lr.MedianPutsPerSec = MedianRate(times, time.Duration(lr.WallSeconds*float64(time.Second)))
	return lr, ok, nil
}

// PlanBatches groups the indexes of ops into batches of up to size keys
// put through the same node, in the order of ops.
func PlanBatches(ops []Op, size int) [][]int {
	var out [][]int
	open := map[*Node]int{} // node -> index in out of its batch being filled
	for i, op := range ops {
		b, ok := open[op.PutNode]
		if !ok || len(out[b]) == size {
			out = append(out, make([]int, 0, size))
			b = len(out) - 1
			open[op.PutNode] = b
		}
		out[b] = append(out[b], i)
	}
	return out
}

// stored waits (dhtnode) until no live node counts an under-replicated
// record, then takes the per-node disk, memory and record figures.
func (v *volumeRun) stored(ctx context.Context) (*StoredResult, error) {
	sr := &StoredResult{}
	if v.k > 0 {
		w := WaitUntil(ctx, realClock{}, time.Now(), v.o.ConvergePoll, v.o.ConvergeTimeout, func(ctx context.Context) bool {
			return Replicated(v.c.statuses(ctx, v.c.Live()), nil, 0)
		})
		if err := ctx.Err(); err != nil {
			return sr, err
		}
		sr.Quiet = &w
		logf("  no under-replicated record %.1f s after the load (timed out: %v)", w.After.Seconds(), w.TimedOut)
	}
	live := v.c.Live()
	mem, err := v.c.Memory()
	if err != nil {
		return sr, err
	}
	rss := make([]float64, len(mem))
	for i, m := range mem {
		rss[i] = float64(m.RSS) / (1 << 20)
	}
	sr.RSSMiB = SummarizeCounts(rss)
	var disk []float64
	for _, nd := range live {
		b, err := DirBytes(filepath.Join(nd.Spec.Dir, "data"))
		if errors.Is(err, fs.ErrNotExist) {
			break // no data directory: records live in memory
		}
		if err != nil {
			return sr, err
		}
		disk = append(disk, float64(b)/(1<<20))
	}
	if len(disk) == len(live) {
		d := SummarizeCounts(disk)
		sr.DiskMiB = &d
	}
	var records []float64
	for _, st := range v.c.statuses(ctx, live) {
		if st == nil || st.Records == nil {
			return sr, nil // the baseline, or a node that did not answer
		}
		records = append(records, float64(st.Records.Count))
		sr.StoredBytes += st.Records.Bytes
	}
	r := SummarizeCounts(records)
	sr.Records = &r
	return sr, nil
}

// kill SIGKILLs victims, waits (dhtnode) until every key is back on its
// expected holders, then counts the sample's live holders and reads it back.
func (v *volumeRun) kill(ctx context.Context, name string, victims []*Node, killedTotal int, sample []Op) (KillStep, error) {
	copies, _, _ := repairTotals(v.c.statuses(ctx, victims))
	_, repairs0, sent0 := repairTotals(v.c.statuses(ctx, slices.DeleteFunc(v.c.Live(), func(nd *Node) bool { return slices.Contains(victims, nd) })))
	killedAt := time.Now()
	if err := v.c.Kill(victims); err != nil {
		return KillStep{Name: name}, err
	}
	live := v.c.Live()
	step := KillStep{Name: name, Killed: len(victims), KilledTotal: killedTotal, LiveNodes: len(live),
		Expected: ExpectedHolders(v.k, len(live))}
	logf("  %s: SIGKILLed %d nodes (%d in all)", name, len(victims), killedTotal)
	vias := make([]*Node, len(sample))
	for i := range vias {
		vias[i] = v.clientNodes[v.rng.IntN(len(v.clientNodes))]
	}
	count := func(ctx context.Context) ReplicaCounts {
		return CountReplicas(ctx, v.sys, v.client, sample, vias, v.c.Live(), v.o)
	}
	if v.k > 0 {
		w := WaitUntil(ctx, realClock{}, killedAt, v.o.ConvergePoll, v.o.ConvergeTimeout, func(ctx context.Context) bool {
			began := time.Since(killedAt)
			sts := v.c.statuses(ctx, v.c.Live())
			if !Replicated(sts, nil, 0) {
				return false // the sample is not asked before every node is done
			}
			if step.NoUnderSeconds == 0 {
				step.NoUnderSeconds = began.Seconds()
			}
			rc := count(ctx)
			return rc.Errors == 0 && Replicated(sts, rc.Counts, step.Expected)
		})
		step.Repaired = &w
		_, repairs1, sent1 := repairTotals(v.c.statuses(ctx, live))
		step.CopiesLost, step.Moved, step.RepairBytesSent = copies, repairs1-repairs0, sent1-sent0
		logf("  %s: repaired after %.1f s (timed out: %v, %d checks); no under-replicated record after %.1f s",
			name, w.After.Seconds(), w.TimedOut, w.Checks, step.NoUnderSeconds)
		logf("  %s: %d copies on the victims, %d records moved (%.3f per copy), %.1f MB repair bytes sent",
			name, copies, step.Moved, float64(step.Moved)/float64(max(copies, 1)), float64(step.RepairBytesSent)/1e6)
	}
	if err := ctx.Err(); err != nil {
		return step, err
	}
	rc := count(ctx)
	step.Holders, step.HolderErrors = SummarizeCounts(rc.Counts), rc.Errors
	readers := make([]*Node, len(sample))
	for i := range readers {
		readers[i] = v.clientNodes[v.rng.IntN(len(v.clientNodes))]
	}
	var err error
	step.Read, err = RunPhase(ctx, v.c, name+"-read", len(sample), v.o.Clients, v.o.OpTimeout,
		getOp(v.client, sample, func(i int) *Node { return readers[i] }))
	step.Lost = step.Read.Ops - step.Read.OK
	logf("  %s: sample holders min %.0f median %.0f, %d of %d sampled keys lost", name,
		step.Holders.Min, step.Holders.Median, step.Lost, len(sample))
	return step, err
}

// join starts a fresh node and waits until its record count stops growing;
// keys is how many keys were acknowledged.
func (v *volumeRun) join(ctx context.Context, keys int) (*JoinResult, error) {
	start := time.Now()
	nd, err := v.c.Join(ctx, v.clientNodes[0], v.o.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	logf("  node %d joined; waiting for its share", nd.Spec.Index)
	jr := &JoinResult{Expected: ExpectedShare(keys, v.k, len(v.c.Live()))}
	det := CatchUp(v.o.CatchupWindow)
	var settledAt time.Time
	w := WaitUntil(ctx, realClock{}, start, v.o.ConvergePoll, v.o.ConvergeTimeout+v.o.CatchupWindow, func(ctx context.Context) bool {
		st := v.c.statuses(ctx, []*Node{nd})[0]
		if st == nil || st.Records == nil {
			return false
		}
		jr.Records = st.Records.Count
		ok, at := det.Observe(time.Now(), []int{st.Records.Count})
		settledAt = at
		return ok
	})
	jr.CaughtUp = &w
	if w.Held {
		jr.CaughtUpSeconds = settledAt.Sub(start).Seconds()
	}
	logf("  joined node holds %d records (even share %.0f), unchanged since %.1f s after its start (timed out: %v)",
		jr.Records, jr.Expected, jr.CaughtUpSeconds, w.TimedOut)
	return jr, ctx.Err()
}

// nodeIndexes lists the nodes' indexes, for progress lines.
func nodeIndexes(nodes []*Node) []int {
	out := make([]int, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.Spec.Index
	}
	return out
}

// nodeCPU returns each node's CPU time so far, in seconds.
func nodeCPU(nodes []*Node) ([]float64, error) {
	out := make([]float64, len(nodes))
	for i, nd := range nodes {
		st, err := SchedStatOf(nd.Proc.Pid())
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", nd.Spec.Index, err)
		}
		out[i] = st.CPU.Seconds()
	}
	return out, nil
}

// DirBytes is the disk space the files under dir take (allocated blocks,
// as du counts them).
func DirBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed since the listing (a compaction)
		}
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// loadAvg returns the 1-, 5- and 15-minute load averages of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
