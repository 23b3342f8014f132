package main

import (
	"strings"
	"testing"
)

// targetRun is testRun at the goals' cluster size, with a second kill step.
func targetRun(system string, scale float64) RunResult {
	r := testRun(system, scale)
	r.Nodes = targetNodes
	get := r.Workload.ConcurrentGet
	get.Name = "kill-2-get"
	r.Failures = append(r.Failures, FailureStep{Name: "kill-2", LiveNodes: 25, Get: &get})
	return r
}

func TestCheckTargetsJudgesEveryGoal(t *testing.T) {
	d := targetRun("dhtnode", 0.25) // p50 0.5, p99 2 ms, 25 ops/s, 0.25 ms CPU, RSS max 40 MiB
	d.Workload.ConcurrentGet.OpsPerSec = 1500
	got := CheckTargets([]RunResult{d, targetRun("baseline", 1)})
	want := map[string]bool{
		"serial get p50 ms": true, "serial get p99 ms": true, "serial put p50 ms": true,
		"gets/s, 8 clients":   true, // exactly at the goal
		"node CPU ms per get": true, "50% killed: retrievable %": true, "50% killed: get p99 ms": true,
		"RSS per node, max MB": false, // 40 MiB = 41.9 MB
		"ready s":              true, "routing tables settled s": true,
	}
	if len(got) != len(want) {
		t.Fatalf("%d targets checked, want %d: %+v", len(got), len(want), got)
	}
	for _, r := range got {
		if met, ok := want[r.Target]; !ok || r.Met != met || !r.Measured {
			t.Errorf("%s: met %v measured %v (value %.2f), want met %v", r.Target, r.Met, r.Measured, r.Value, met)
		}
		if r.Baseline == nil {
			t.Errorf("%s: no baseline figure", r.Target)
		}
	}
}

func TestCheckTargetsMissingFiguresAreNotMet(t *testing.T) {
	d := targetRun("dhtnode", 1)
	d.Failures = d.Failures[:2] // the run failed before the second kill
	got := CheckTargets([]RunResult{d})
	for _, r := range got {
		if strings.HasPrefix(r.Target, "50% killed") && (r.Met || r.Measured) {
			t.Errorf("%s: met %v measured %v without a figure", r.Target, r.Met, r.Measured)
		}
		if r.Baseline != nil {
			t.Errorf("%s: baseline figure without a baseline run", r.Target)
		}
	}
	out := FormatTargets(got)
	if got := cells(t, out, "50% killed: get p99 ms"); strings.Join(got, " ") != "0.00 <= 20 not measured - -" {
		t.Errorf("line: %q in\n%s", got, out)
	}
	if got := cells(t, out, "serial get p50 ms"); strings.Join(got, " ") != "2.00 <= 1 MISSED - 8.70" {
		t.Errorf("line: %q in\n%s", got, out)
	}
}

func TestCheckTargetsNeedsADhtnodeRunOfTheGoalsSize(t *testing.T) {
	if got := CheckTargets([]RunResult{testRun("dhtnode", 1), targetRun("baseline", 1)}); got != nil {
		t.Fatalf("targets checked on N=20: %+v", got)
	}
	if out := FormatTargets(nil); out != "" {
		t.Fatalf("output without targets: %q", out)
	}
}
