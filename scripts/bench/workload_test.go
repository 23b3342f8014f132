package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

// testNodes returns n nodes with distinct indexes.
func testNodes(n int) []*Node {
	nodes := make([]*Node, n)
	for i := range nodes {
		nodes[i] = &Node{Spec: NodeSpec{Index: i}, Alive: true}
	}
	return nodes
}

func TestPlanOps(t *testing.T) {
	nodes := testNodes(5)
	ops := PlanOps(rand.New(rand.NewPCG(1, 2)), "k", 200, 256, nodes)
	keys := map[string]bool{}
	for _, op := range ops {
		if keys[op.Key] {
			t.Fatalf("duplicate key %q", op.Key)
		}
		keys[op.Key] = true
		if len(op.Value) != 256 {
			t.Fatalf("value of %d bytes", len(op.Value))
		}
		if op.PutNode == op.GetNode {
			t.Fatalf("%s is put and read through the same node", op.Key)
		}
	}
	again := PlanOps(rand.New(rand.NewPCG(1, 2)), "k", 200, 256, nodes)
	if string(again[7].Value) != string(ops[7].Value) || again[7].GetNode != ops[7].GetNode {
		t.Fatal("the same seed planned different ops")
	}
	if one := PlanOps(rand.New(rand.NewPCG(1, 2)), "k", 3, 1, nodes[:1]); one[0].GetNode != nodes[0] {
		t.Fatal("single client node: gets must use it")
	}
}

func TestForEachRunsEveryIndexOnce(t *testing.T) {
	var calls [100]atomic.Int32
	var inFlight, peak atomic.Int32
	ForEach(context.Background(), len(calls), 8, func(i int) {
		cur := inFlight.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		calls[i].Add(1)
		inFlight.Add(-1)
	})
	for i := range calls {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("index %d ran %d times", i, c)
		}
	}
	if p := peak.Load(); p > 8 {
		t.Fatalf("%d calls in flight, limit 8", p)
	}
}

func TestForEachStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	ForEach(ctx, 1000, 1, func(int) {
		if n.Add(1) == 3 {
			cancel()
		}
	})
	if got := n.Load(); got > 4 {
		t.Fatalf("%d calls after cancel, want at most 4", got)
	}
}

func TestChooseVictimsSparesClientNodes(t *testing.T) {
	nodes := testNodes(20)
	clients := nodes[3:8]
	first, second := ChooseVictims(rand.New(rand.NewPCG(3, 4)), nodes, clients, 0.3, 0.2)
	if len(first) != 6 || len(second) != 4 {
		t.Fatalf("victims %d + %d, want 6 + 4", len(first), len(second))
	}
	seen := map[*Node]bool{}
	for _, v := range append(first, second...) {
		if v.Spec.Index >= 3 && v.Spec.Index < 8 {
			t.Fatalf("client-facing node %d chosen", v.Spec.Index)
		}
		if seen[v] {
			t.Fatalf("node %d chosen twice", v.Spec.Index)
		}
		seen[v] = true
	}
}

func TestChooseVictimsCapsAtNonClientNodes(t *testing.T) {
	nodes := testNodes(4)
	first, second := ChooseVictims(rand.New(rand.NewPCG(3, 4)), nodes, nodes[:3], 0.5, 0.5)
	if len(first) != 1 || len(second) != 0 {
		t.Fatalf("victims %d + %d, want 1 + 0", len(first), len(second))
	}
}

// Batches hold the keys of one put node each, in order, up to the size.
func TestPlanBatches(t *testing.T) {
	a, b := &Node{}, &Node{}
	ops := []Op{{Key: "0", PutNode: a}, {Key: "1", PutNode: b}, {Key: "2", PutNode: a}, {Key: "3", PutNode: a}, {Key: "4", PutNode: b}, {Key: "5", PutNode: a}}
	got := PlanBatches(ops, 2)
	want := [][]int{{0, 2}, {1, 4}, {3, 5}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("PlanBatches = %v, want %v", got, want)
	}
	if o, err := ParseOptions([]string{"-keys", "1000", "-batch", "64"}, io.Discard); err != nil || o.Batch != 64 {
		t.Fatalf("-batch 64: %+v, %v", o.Batch, err)
	}
}
