package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// FailureStep is the state after one failure step: how many nodes were
// killed so far, the live replicas per acknowledged key, and (after a kill)
// how many keys the survivors could still return.
type FailureStep struct {
	Name        string `json:"name"`
	KilledTotal int    `json:"killed_total"`
	LiveNodes   int    `json:"live_nodes"`
	// Replicas counts, per acknowledged key, the live nodes holding it.
	Replicas CountSummary `json:"replicas"`
	// ReplicaErrors counts keys whose replica count could not be read.
	ReplicaErrors int `json:"replica_errors"`
	// ReplicaError is the first such error.
	ReplicaError string `json:"replica_error,omitempty"`
	// Get reads every acknowledged key from a random client-facing node;
	// nil for the step before any kill.
	Get *PhaseResult `json:"get,omitempty"`
}

// ChooseVictims picks the nodes to kill in two steps: round(kill1*N)
// nodes, then round(kill2*N) more, drawn at random from the nodes that are
// not client-facing. Each step is capped by what is left.
func ChooseVictims(rng *rand.Rand, all []*Node, clientNodes []*Node, kill1, kill2 float64) (first, second []*Node) {
	isClient := map[*Node]bool{}
	for _, n := range clientNodes {
		isClient[n] = true
	}
	var pool []*Node
	for _, n := range all {
		if !isClient[n] {
			pool = append(pool, n)
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	n1 := min(len(pool), int(math.Round(kill1*float64(len(all)))))
	n2 := min(len(pool)-n1, int(math.Round(kill2*float64(len(all)))))
	return pool[:n1], pool[n1 : n1+n2]
}

// RunFailures measures replicas before any kill, then for each victim set:
// SIGKILL it, wait opts.Wait, count live replicas, and read every key
// back from the (surviving) client-facing nodes.
func RunFailures(ctx context.Context, c *Cluster, sys System, client *APIClient, rng *rand.Rand,
	clientNodes []*Node, acked []Op, victims [][]*Node, opts Options) ([]FailureStep, error) {
	before, err := replicaStep(ctx, c, sys, client, rng, clientNodes, acked, "before-kill", 0, opts)
	if err != nil {
		return nil, err
	}
	steps := []FailureStep{before}
	killed := 0
	for i, vs := range victims {
		if err := c.Kill(vs); err != nil {
			return steps, err
		}
		killed += len(vs)
		logf("  killed %d nodes (%d in all), waiting %s", len(vs), killed, opts.Wait)
		select {
		case <-ctx.Done():
			return steps, ctx.Err()
		case <-time.After(opts.Wait):
		}
		step, err := replicaStep(ctx, c, sys, client, rng, clientNodes, acked, fmt.Sprintf("kill-%d", i+1), killed, opts)
		if err != nil {
			return steps, err
		}
		readers := make([]*Node, len(acked))
		for j := range readers {
			readers[j] = clientNodes[rng.IntN(len(clientNodes))]
		}
		get, err := RunPhase(ctx, c, step.Name+"-get", len(acked), opts.Clients, opts.OpTimeout,
			getOp(client, acked, func(j int) *Node { return readers[j] }))
		if err != nil {
			return steps, err
		}
		step.Get = &get
		steps = append(steps, step)
	}
	return steps, nil
}

// replicaStep counts the live replicas of every acknowledged key.
func replicaStep(ctx context.Context, c *Cluster, sys System, client *APIClient, rng *rand.Rand,
	clientNodes []*Node, acked []Op, name string, killed int, opts Options) (FailureStep, error) {
	live := c.Live()
	step := FailureStep{Name: name, KilledTotal: killed, LiveNodes: len(live)}
	vias := make([]*Node, len(acked))
	for i := range vias {
		vias[i] = clientNodes[rng.IntN(len(clientNodes))]
	}
	rc := CountReplicas(ctx, sys, client, acked, vias, live, opts)
	if err := ctx.Err(); err != nil {
		return step, err
	}
	step.Replicas = SummarizeCounts(rc.Counts)
	step.ReplicaErrors, step.ReplicaError = rc.Errors, rc.FirstError
	return step, nil
}

// ReplicaCounts are the live replicas of a set of keys.
type ReplicaCounts struct {
	Counts     []float64 // per key that could be counted, in no order
	Errors     int       // keys whose count could not be read
	FirstError string
}

// CountReplicas counts the live nodes holding each key of ops, asking
// vias[i] about ops[i], with opts.Clients requests at a time.
func CountReplicas(ctx context.Context, sys System, client *APIClient, ops []Op, vias, live []*Node, opts Options) ReplicaCounts {
	rc := ReplicaCounts{Counts: make([]float64, 0, len(ops))}
	var mu sync.Mutex
	ForEach(ctx, len(ops), opts.Clients, func(i int) {
		rctx, cancel := context.WithTimeout(ctx, opts.OpTimeout)
		defer cancel()
		n, err := sys.LiveReplicas(rctx, client, ops[i].Key, vias[i], live)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rc.Errors++
			if rc.FirstError == "" {
				rc.FirstError = err.Error()
			}
			return
		}
		rc.Counts = append(rc.Counts, float64(n))
	})
	return rc
}
