package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// cellWidth is the width figures are right-aligned in.
const cellWidth = 10

// Report is the content of the BENCH_JSON line.
type Report struct {
	Time    time.Time   `json:"time"`
	Options Options     `json:"options"`
	Runs    []RunResult `json:"runs"`
	// Volume holds the volume mode's runs (-keys); Runs is empty then.
	Volume []VolumeResult `json:"volume,omitempty"`
	// Targets checks issue 5's goals against the dhtnode run at N = 50, or
	// in the volume mode issue 20's against the dhtnode volume run.
	Targets []TargetResult `json:"targets,omitempty"`
}

// row is one line of a table: a label, a number format and how to read
// the number from a run R (ok=false prints "-").
type row[R any] struct {
	label string
	prec  int
	value func(r R) (float64, bool)
}

// phaseFigure reads figure f of one workload phase of a run.
func phaseFigure(phase func(*WorkloadResult) *PhaseResult, f func(*PhaseResult) float64) func(RunResult) (float64, bool) {
	return func(r RunResult) (float64, bool) {
		if r.Workload == nil {
			return 0, false
		}
		return f(phase(r.Workload)), true
	}
}

// phaseRows are the rows of one workload phase.
func phaseRows(label string, phase func(*WorkloadResult) *PhaseResult) []row[RunResult] {
	get := func(f func(p *PhaseResult) float64) func(RunResult) (float64, bool) { return phaseFigure(phase, f) }
	return []row[RunResult]{
		{label + " success %", 1, get(func(p *PhaseResult) float64 { return 100 * p.SuccessRate })},
		{label + " ops/s", 1, get(func(p *PhaseResult) float64 { return p.OpsPerSec })},
		{label + " p50 ms", 2, get(func(p *PhaseResult) float64 { return p.Latency.P50 })},
		{label + " p90 ms", 2, get(func(p *PhaseResult) float64 { return p.Latency.P90 })},
		{label + " p99 ms", 2, get(func(p *PhaseResult) float64 { return p.Latency.P99 })},
		{label + " CPU ms/op", 2, get(func(p *PhaseResult) float64 { return p.CPUMsPerOp })},
		{label + " page faults/op", 1, get(func(p *PhaseResult) float64 { return p.FaultsPerOp })},
		{label + " wake-ups/op", 1, get(func(p *PhaseResult) float64 { return p.SlicesPerOp })},
		{label + " hedged reads/op", 2, counterFigure(phase, func(c ReplicationCounters, ops int) float64 {
			return float64(c.Hedged) / float64(max(ops, 1))
		})},
		{label + " repair audits", 0, counterFigure(phase, func(c ReplicationCounters, _ int) float64 { return float64(c.Audits) })},
	}
}

// counterFigure reads figure f of one workload phase's dhtnode counters
// ("-" for a system without them).
func counterFigure(phase func(*WorkloadResult) *PhaseResult, f func(c ReplicationCounters, ops int) float64) func(RunResult) (float64, bool) {
	return func(r RunResult) (float64, bool) {
		if r.Workload == nil {
			return 0, false
		}
		p := phase(r.Workload)
		if p.Counters == nil {
			return 0, false
		}
		return f(*p.Counters, p.Ops), true
	}
}

// stepFigure reads figure f of failure step i (0 = before any kill) of a run.
func stepFigure(i int, f func(s FailureStep) (float64, bool)) func(RunResult) (float64, bool) {
	return func(r RunResult) (float64, bool) {
		if i >= len(r.Failures) {
			return 0, false
		}
		return f(r.Failures[i])
	}
}

// stepGetFigure reads figure f of the gets after failure step i.
func stepGetFigure(i int, f func(*PhaseResult) float64) func(RunResult) (float64, bool) {
	return stepFigure(i, func(s FailureStep) (float64, bool) {
		if s.Get == nil {
			return 0, false
		}
		return f(s.Get), true
	})
}

// failureRows are the rows of failure step i (0 = before any kill).
func failureRows(i int, label string) []row[RunResult] {
	step := func(f func(s FailureStep) (float64, bool)) func(RunResult) (float64, bool) { return stepFigure(i, f) }
	rows := []row[RunResult]{
		{label + " live nodes", 0, step(func(s FailureStep) (float64, bool) { return float64(s.LiveNodes), true })},
		{label + " replicas mean", 2, step(func(s FailureStep) (float64, bool) { return s.Replicas.Mean, s.Replicas.N > 0 })},
		{label + " replicas min", 0, step(func(s FailureStep) (float64, bool) { return s.Replicas.Min, s.Replicas.N > 0 })},
		{label + " keys w/o replica", 0, step(func(s FailureStep) (float64, bool) { return float64(s.Replicas.Zero), s.Replicas.N > 0 })},
	}
	if i == 0 {
		return rows
	}
	get := func(f func(p *PhaseResult) float64) func(RunResult) (float64, bool) { return stepGetFigure(i, f) }
	return append(rows,
		row[RunResult]{label + " retrievable %", 1, get(func(p *PhaseResult) float64 { return 100 * p.SuccessRate })},
		row[RunResult]{label + " get p50 ms", 2, get(func(p *PhaseResult) float64 { return p.Latency.P50 })},
		row[RunResult]{label + " get p99 ms", 2, get(func(p *PhaseResult) float64 { return p.Latency.P99 })},
	)
}

// memory reads a figure of a per-node memory summary after the workload.
func memory(pick func(*WorkloadResult) CountSummary, f func(CountSummary) float64) func(RunResult) (float64, bool) {
	return func(r RunResult) (float64, bool) {
		if r.Workload == nil {
			return 0, false
		}
		return f(pick(r.Workload)), true
	}
}

// The workload's phases and memory summaries, for phaseFigure and memory.
func concurrentPut(w *WorkloadResult) *PhaseResult { return &w.ConcurrentPut }
func concurrentGet(w *WorkloadResult) *PhaseResult { return &w.ConcurrentGet }
func serialPut(w *WorkloadResult) *PhaseResult     { return &w.SerialPut }
func serialGet(w *WorkloadResult) *PhaseResult     { return &w.SerialGet }

func rssOf(w *WorkloadResult) CountSummary     { return w.RSSMiB }
func privateOf(w *WorkloadResult) CountSummary { return w.PrivateMiB }
func pssOf(w *WorkloadResult) CountSummary     { return w.PSSMiB }
func median(c CountSummary) float64            { return c.Median }

// reportRows lists every row of the table, in order.
func reportRows() []row[RunResult] {
	rows := []row[RunResult]{
		{"ready s", 2, func(r RunResult) (float64, bool) { return r.ReadySeconds, r.ReadySeconds > 0 }},
		{"settled s", 2, func(r RunResult) (float64, bool) { return r.SettleSeconds, r.SettleSeconds > 0 && !r.SettleTimedOut }},
		{"RT size min", 0, func(r RunResult) (float64, bool) { return r.RTSizes.Min, r.RTSizes.N > 0 }},
		{"RT size max", 0, func(r RunResult) (float64, bool) { return r.RTSizes.Max, r.RTSizes.N > 0 }},
		{"idle CPU cores (all nodes)", 2, func(r RunResult) (float64, bool) { return r.IdleCores, r.IdleCores > 0 }},
	}
	rows = append(rows, phaseRows("put conc", concurrentPut)...)
	rows = append(rows, phaseRows("get conc", concurrentGet)...)
	rows = append(rows, phaseRows("put serial", serialPut)...)
	rows = append(rows, phaseRows("get serial", serialGet)...)
	rows = append(rows,
		row[RunResult]{"RSS median MiB", 1, memory(rssOf, median)},
		row[RunResult]{"RSS max MiB", 1, memory(rssOf, func(c CountSummary) float64 { return c.Max })},
		row[RunResult]{"private (RssAnon) median MiB", 1, memory(privateOf, median)},
		row[RunResult]{"PSS median MiB", 1, memory(pssOf, median)},
	)
	rows = append(rows, failureRows(0, "before kill")...)
	rows = append(rows, failureRows(1, "kill 1")...)
	rows = append(rows, failureRows(2, "kill 2")...)
	return rows
}

// FormatReport renders the runs as one table per cluster size, systems side
// by side, with a dhtnode/baseline ratio column when both ran, followed by
// notes on errors and timeouts.
func FormatReport(runs []RunResult) string {
	var sizes []int
	for _, r := range runs {
		if !slices.Contains(sizes, r.Nodes) {
			sizes = append(sizes, r.Nodes)
		}
	}
	var b strings.Builder
	for _, n := range sizes {
		var cols []RunResult
		for _, r := range runs {
			if r.Nodes == n {
				cols = append(cols, r)
			}
		}
		formatSize(&b, n, cols)
	}
	return b.String()
}

// formatSize writes the table and notes of one cluster size.
func formatSize(b *strings.Builder, n int, cols []RunResult) {
	fmt.Fprintf(b, "\n== N=%d (client-facing nodes: %d)\n", n, cols[0].ClientNodes)
	systems := make([]string, len(cols))
	for i, r := range cols {
		systems[i] = r.System
	}
	writeTable(b, systems, cols, reportRows())
	for _, r := range cols {
		for _, note := range runNotes(r) {
			fmt.Fprintf(b, "note: %s N=%d: %s\n", r.System, n, note)
		}
	}
}

// writeTable writes rows for the runs cols of the named systems side by
// side, with a dhtnode/baseline ratio column when both ran.
func writeTable[R any](b *strings.Builder, systems []string, cols []R, rows []row[R]) {
	dIdx, bIdx := slices.Index(systems, "dhtnode"), slices.Index(systems, "baseline")
	withRatio := dIdx >= 0 && bIdx >= 0
	// Labels are left-aligned; figures are right-aligned in cellWidth.
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "metric\t")
	for _, s := range systems {
		fmt.Fprintf(tw, "%*s\t", cellWidth, s)
	}
	if withRatio {
		fmt.Fprintf(tw, "%*s\t", cellWidth, "ratio d/b")
	}
	fmt.Fprintln(tw)
	for _, rw := range rows {
		fmt.Fprintf(tw, "%s\t", rw.label)
		for _, r := range cols {
			fmt.Fprintf(tw, "%*s\t", cellWidth, formatCell(rw, r))
		}
		if withRatio {
			fmt.Fprintf(tw, "%*s\t", cellWidth, formatRatio(rw, cols[dIdx], cols[bIdx]))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

// formatCell prints one number, or "-" when the run has no such figure.
func formatCell[R any](rw row[R], r R) string {
	v, ok := rw.value(r)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.*f", rw.prec, v)
}

// formatRatio prints dhtnode's figure divided by the baseline's.
func formatRatio[R any](rw row[R], d, base R) string {
	dv, dok := rw.value(d)
	bv, bok := rw.value(base)
	if !dok || !bok || bv == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", dv/bv)
}

// runNotes lists what went wrong in a run: its error, a settle timeout,
// and sample errors of each phase.
func runNotes(r RunResult) []string {
	var notes []string
	if r.Error != "" {
		notes = append(notes, "run failed: "+r.Error)
	}
	for _, u := range r.UnexpectedExits {
		notes = append(notes, strings.SplitN(u, "\n", 2)[0])
	}
	if r.SettleTimedOut {
		notes = append(notes, fmt.Sprintf("routing tables did not settle (target %d); sizes min %.0f max %.0f",
			r.SettleTarget, r.RTSizes.Min, r.RTSizes.Max))
	}
	var phases []PhaseResult
	if w := r.Workload; w != nil {
		phases = append(phases, w.ConcurrentPut, w.ConcurrentGet, w.SerialPut, w.SerialGet)
	}
	for _, s := range r.Failures {
		if s.ReplicaErrors > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d replica queries failed, e.g. %s", s.Name, s.ReplicaErrors, s.ReplicaError))
		}
		if s.Get != nil {
			phases = append(phases, *s.Get)
		}
	}
	for _, p := range phases {
		for _, e := range p.Errors {
			notes = append(notes, fmt.Sprintf("%s error: %s", p.Name, e))
		}
	}
	return notes
}
