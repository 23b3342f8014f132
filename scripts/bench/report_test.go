package main

import (
	"regexp"
	"strings"
	"testing"
)

// testRun is a finished run with round figures.
func testRun(system string, scale float64) RunResult {
	phase := func(name string) PhaseResult {
		return PhaseResult{Name: name, Ops: 10, OK: 10, SuccessRate: 1, OpsPerSec: 100 * scale,
			Latency: LatencySummary{P50: 2 * scale, P90: 4 * scale, P99: 8 * scale}, CPUMsPerOp: scale}
	}
	get := phase("kill-1-get")
	return RunResult{
		System: system, Nodes: 20, ClientNodes: 5, ReadySeconds: 1, SettleSeconds: 2 * scale, SettleTarget: 19,
		RTSizes: CountSummary{N: 20, Min: 19, Max: 19, Median: 19, Mean: 19},
		Workload: &WorkloadResult{ConcurrentPut: phase("conc-put"), ConcurrentGet: phase("conc-get"),
			SerialPut: phase("serial-put"), SerialGet: phase("serial-get"), RSSMiB: CountSummary{N: 20, Median: 30 * scale, Max: 40}},
		Failures: []FailureStep{
			{Name: "before-kill", LiveNodes: 20, Replicas: CountSummary{N: 10, Mean: 8, Min: 8}},
			{Name: "kill-1", LiveNodes: 14, Replicas: CountSummary{N: 10, Mean: 7, Min: 6}, Get: &get},
		},
	}
}

// cells returns the cells of the table line whose label is label.
func cells(t *testing.T, out, label string) []string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `\s{2,}(.*)$`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line %q in:\n%s", label, out)
	}
	return strings.Fields(m[1])
}

func TestFormatReportSideBySideWithRatio(t *testing.T) {
	d := testRun("dhtnode", 2)
	d.Workload.ConcurrentGet.Counters = &ReplicationCounters{Reads: 10, Hedged: 5, Audits: 3}
	out := FormatReport([]RunResult{d, testRun("baseline", 1)})
	if !strings.Contains(out, "== N=20 (client-facing nodes: 5)") {
		t.Fatalf("no heading:\n%s", out)
	}
	for label, want := range map[string][]string{
		"metric":               {"dhtnode", "baseline", "ratio", "d/b"},
		"settled s":            {"4.00", "2.00", "2.00"},
		"put conc p99 ms":      {"16.00", "8.00", "2.00"},
		"get serial ops/s":     {"200.0", "100.0", "2.00"},
		"RSS median MiB":       {"60.0", "30.0", "2.00"},
		"kill 1 replicas mean": {"7.00", "7.00", "1.00"},
		"kill 1 retrievable %": {"100.0", "100.0", "1.00"},
		"kill 2 get p50 ms":    {"-", "-", "-"},
		// dhtnode's own counters: the baseline has none.
		"get conc hedged reads/op": {"0.50", "-", "-"},
		"get conc repair audits":   {"3", "-", "-"},
	} {
		if got := cells(t, out, label); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %q, want %q", label, got, want)
		}
	}
}

func TestFormatReportNotesFailuresAndMissingFigures(t *testing.T) {
	failed := RunResult{System: "dhtnode", Nodes: 20, Error: "node 3 exited", SettleTimedOut: true, SettleTarget: 19}
	ok := testRun("baseline", 1)
	ok.Workload.ConcurrentGet.Errors = []string{"GET http://x/v1/values/k: 503 quorum"}
	out := FormatReport([]RunResult{failed, ok})
	for _, want := range []string{
		"note: dhtnode N=20: run failed: node 3 exited",
		"note: dhtnode N=20: routing tables did not settle (target 19)",
		"note: baseline N=20: conc-get error: GET http://x/v1/values/k: 503 quorum",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if got := cells(t, out, "put conc p50 ms"); strings.Join(got, " ") != "- 2.00 -" {
		t.Errorf("missing figures: %q", got)
	}
}

func TestFormatReportSingleSystemHasNoRatio(t *testing.T) {
	out := FormatReport([]RunResult{testRun("baseline", 1)})
	if strings.Contains(out, "ratio") {
		t.Fatalf("ratio column without dhtnode:\n%s", out)
	}
	if got := cells(t, out, "settled s"); len(got) != 1 {
		t.Fatalf("cells %q", got)
	}
}
