package main

import (
	"cmp"
	"fmt"
	"strings"
)

// volumeFigure reads a figure that a volume run may lack (nil part).
func volumeFigure[P any](part func(VolumeResult) *P, f func(*P) float64) func(VolumeResult) (float64, bool) {
	return func(r VolumeResult) (float64, bool) {
		p := part(r)
		if p == nil {
			return 0, false
		}
		return f(p), true
	}
}

// The parts of a volume run, for volumeFigure.
func loadOf(r VolumeResult) *LoadResult     { return r.Load }
func storedOf(r VolumeResult) *StoredResult { return r.Stored }
func restOf(r VolumeResult) *RestResult     { return r.Rest }
func joinOf(r VolumeResult) *JoinResult     { return r.Join }
func diskOf(r VolumeResult) *CountSummary {
	if r.Stored == nil {
		return nil
	}
	return r.Stored.DiskMiB
}
func recordsOf(r VolumeResult) *CountSummary {
	if r.Stored == nil {
		return nil
	}
	return r.Stored.Records
}
func repairBytesOf(r VolumeResult) *CountSummary {
	if r.Rest == nil {
		return nil
	}
	return r.Rest.RepairBytesPerMin
}

// repairWindowOf reads one of a run's rest windows (pick returns nil when
// the run lacks it).
func repairWindowOf(pick func(*RestResult) *RepairWindow) func(VolumeResult) *RepairWindow {
	return func(r VolumeResult) *RepairWindow {
		if r.Rest == nil {
			return nil
		}
		return pick(r.Rest)
	}
}

var (
	wholeRest  = repairWindowOf(func(s *RestResult) *RepairWindow { return s.Whole })
	steadyRest = repairWindowOf(func(s *RestResult) *RepairWindow { return s.Steady })
	firstRest  = repairWindowOf(func(s *RestResult) *RepairWindow {
		if len(s.Minutes) == 0 {
			return nil
		}
		return &s.Minutes[0]
	})
	// goalRest is the window the traffic goal is checked on: the steady
	// state when measured, else the whole window.
	goalRest = repairWindowOf(func(s *RestResult) *RepairWindow { return cmp.Or(s.Steady, s.Whole) })
)

// trafficShare reads a window's repair traffic per hour, % of stored.
func trafficShare(w func(VolumeResult) *RepairWindow) func(VolumeResult) (float64, bool) {
	return func(r VolumeResult) (float64, bool) {
		if p := w(r); p != nil && p.PerStoredHour != nil {
			return 100 * *p.PerStoredHour, true
		}
		return 0, false
	}
}

// sentMax reads the most repair bytes a node sent per minute in a window.
func sentMax(w func(VolumeResult) *RepairWindow) func(VolumeResult) (float64, bool) {
	return func(r VolumeResult) (float64, bool) {
		if p := w(r); p != nil && p.SentPerMin != nil {
			return p.SentPerMin.Max, true
		}
		return 0, false
	}
}

// killOf returns kill step i of a run, or nil.
func killOf(i int) func(VolumeResult) *KillStep {
	return func(r VolumeResult) *KillStep {
		if i >= len(r.Kills) {
			return nil
		}
		return &r.Kills[i]
	}
}

// repairedSeconds reads how long step i took to re-replicate; a step that
// has no repair (the baseline) has no figure, nor one that timed out
// unless timedOut is set (then the figure is the time waited, for goals).
func repairedSeconds(i int, timedOut bool) func(VolumeResult) (float64, bool) {
	return func(r VolumeResult) (float64, bool) {
		s := killOf(i)(r)
		if s == nil || s.Repaired == nil || !(s.Repaired.Held || timedOut && s.Repaired.TimedOut) {
			return 0, false
		}
		return s.Repaired.After.Seconds(), true
	}
}

// lostKeys reads the sampled keys lost by the end of the last kill step.
func lostKeys(r VolumeResult) (float64, bool) {
	if len(r.Kills) == 0 {
		return 0, false
	}
	return float64(r.Kills[len(r.Kills)-1].Lost), true
}

func mibMedian(c *CountSummary) float64 { return c.Median }
func mibMax(c *CountSummary) float64    { return c.Max }

// volumeRows lists the rows of the volume table.
func volumeRows() []row[VolumeResult] {
	rows := []row[VolumeResult]{
		{"ready s", 2, func(r VolumeResult) (float64, bool) { return r.ReadySeconds, r.ReadySeconds > 0 }},
		{"settled s", 2, func(r VolumeResult) (float64, bool) { return r.SettleSeconds, r.SettleSeconds > 0 }},
		{"load puts/s (median of seconds)", 1, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.MedianPutsPerSec })},
		{"load puts/s (overall)", 1, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.OpsPerSec })},
		{"load s", 1, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.WallSeconds })},
		{"load failed puts", 0, volumeFigure(loadOf, func(l *LoadResult) float64 { return float64(l.Failed) })},
		{"load keys per request (-batch)", 0, volumeFigure(loadOf, func(l *LoadResult) float64 { return float64(max(l.Batch, 1)) })},
		{"load batch p50 ms", 2, func(r VolumeResult) (float64, bool) {
			if r.Load == nil || r.Load.BatchLatency == nil {
				return 0, false
			}
			return r.Load.BatchLatency.P50, true
		}},
		{"load batch p99 ms", 2, func(r VolumeResult) (float64, bool) {
			if r.Load == nil || r.Load.BatchLatency == nil {
				return 0, false
			}
			return r.Load.BatchLatency.P99, true
		}},
		{"load put p50 ms", 2, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.Latency.P50 })},
		{"load put p99 ms", 2, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.Latency.P99 })},
		{"load node CPU ms/put", 2, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.CPUMsPerOp })},
		{"load bench client CPU ms/put", 2, volumeFigure(loadOf, func(l *LoadResult) float64 { return l.ClientCPUMsPerOp })},
		{"under-replicated 0 after load s", 1, func(r VolumeResult) (float64, bool) {
			if r.Stored == nil || r.Stored.Quiet == nil || !r.Stored.Quiet.Held {
				return 0, false
			}
			return r.Stored.Quiet.After.Seconds(), true
		}},
		{"disk per node median MiB", 1, volumeFigure(diskOf, mibMedian)},
		{"disk per node max MiB", 1, volumeFigure(diskOf, mibMax)},
		{"RSS after load median MiB", 1, volumeFigure(storedOf, func(s *StoredResult) float64 { return s.RSSMiB.Median })},
		{"RSS after load max MiB", 1, volumeFigure(storedOf, func(s *StoredResult) float64 { return s.RSSMiB.Max })},
		{"records per node median", 0, volumeFigure(recordsOf, mibMedian)},
		{"records per node max", 0, volumeFigure(recordsOf, mibMax)},
		{"stored MiB (all nodes)", 1, func(r VolumeResult) (float64, bool) {
			if r.Stored == nil || r.Stored.Records == nil {
				return 0, false
			}
			return float64(r.Stored.StoredBytes) / (1 << 20), true
		}},
		{"rest CPU % of a core per node median", 2, volumeFigure(restOf, func(s *RestResult) float64 { return 100 * s.CPUCores.Median })},
		{"rest CPU % of a core per node max", 2, volumeFigure(restOf, func(s *RestResult) float64 { return 100 * s.CPUCores.Max })},
		{"rest repair bytes/min per node median", 0, volumeFigure(repairBytesOf, mibMedian)},
		{"rest repair bytes/min per node max", 0, volumeFigure(repairBytesOf, mibMax)},
		{"rest repair traffic/h % of stored", 3, trafficShare(wholeRest)},
		{"rest minute 1: repair traffic/h % of stored", 3, trafficShare(firstRest)},
		{"rest steady (after -rest-skip): traffic/h % of stored", 3, trafficShare(steadyRest)},
		{"rest steady: bytes sent/min per node max", 0, sentMax(steadyRest)},
		{"rest steady: bytes/min per node median", 0, volumeFigure(steadyRest, func(w *RepairWindow) float64 { return w.BytesPerMin.Median })},
		{"rest audits (all nodes)", 0, func(r VolumeResult) (float64, bool) {
			if r.Rest == nil || r.Rest.Counters == nil {
				return 0, false
			}
			return float64(r.Rest.Counters.Audits), true
		}},
		{"rest repair lookups (all nodes)", 0, func(r VolumeResult) (float64, bool) {
			if r.Rest == nil || r.Rest.Counters == nil {
				return 0, false
			}
			return float64(r.Rest.Counters.Lookups), true
		}},
	}
	for i, name := range []string{"kill 1 node", "kill wave"} {
		step := func(f func(*KillStep) float64) func(VolumeResult) (float64, bool) { return volumeFigure(killOf(i), f) }
		rows = append(rows,
			row[VolumeResult]{name + ": live nodes", 0, step(func(s *KillStep) float64 { return float64(s.LiveNodes) })},
			row[VolumeResult]{name + ": under-replicated 0 s", 1, func(r VolumeResult) (float64, bool) {
				if s := killOf(i)(r); s != nil && s.NoUnderSeconds > 0 {
					return s.NoUnderSeconds, true
				}
				return 0, false
			}},
			row[VolumeResult]{name + ": k holders again s", 1, repairedSeconds(i, false)},
			row[VolumeResult]{name + ": sample holders min", 0, step(func(s *KillStep) float64 { return s.Holders.Min })},
			row[VolumeResult]{name + ": sample holders median", 0, step(func(s *KillStep) float64 { return s.Holders.Median })},
			row[VolumeResult]{name + ": sample keys lost", 0, step(func(s *KillStep) float64 { return float64(s.Lost) })},
			row[VolumeResult]{name + ": sample read p50 ms", 2, step(func(s *KillStep) float64 { return s.Read.Latency.P50 })},
		)
	}
	return append(rows,
		row[VolumeResult]{"join: records unchanged after s", 1, func(r VolumeResult) (float64, bool) {
			if r.Join == nil || r.Join.CaughtUp == nil || !r.Join.CaughtUp.Held {
				return 0, false
			}
			return r.Join.CaughtUpSeconds, true
		}},
		row[VolumeResult]{"join: records held", 0, volumeFigure(joinOf, func(j *JoinResult) float64 { return float64(j.Records) })},
		row[VolumeResult]{"join: even share", 0, volumeFigure(joinOf, func(j *JoinResult) float64 { return j.Expected })},
		row[VolumeResult]{"wall s", 0, func(r VolumeResult) (float64, bool) { return r.WallSeconds, true }},
	)
}

// volumeGoals are issue 20's goals for the benchmark (N = 20, 100,000 keys
// of 1 KiB, k = 8). The CPU goal is for repair; the figure is all the CPU a
// node spends at rest, an upper bound of it.
func volumeGoals() []target[VolumeResult] {
	rows := volumeRows()
	find := func(label string) func(VolumeResult) (float64, bool) {
		for _, r := range rows {
			if r.label == label {
				return r.value
			}
		}
		panic("no row " + label)
	}
	return []target[VolumeResult]{
		{"rest repair traffic/h % of stored (steady if measured)", 1, false, 0, trafficShare(goalRest)},
		{"rest CPU % of a core per node max", 2, false, 0, find("rest CPU % of a core per node max")},
		{"kill 1 node: k holders again s", 30, false, 0, repairedSeconds(0, true)},
		{"kill 25%: k holders again s", 60, false, 0, repairedSeconds(1, true)},
		{"sample keys lost", 0, false, 0, lostKeys},
		{"RSS after load max MiB (goal at 40,000 records)", 64, false, 0, find("RSS after load max MiB")},
		{"load puts/s, 8 clients (median)", 2000, true, 0, find("load puts/s (median of seconds)")},
	}
}

// CheckVolumeGoals checks issue 20's goals against the first dhtnode volume
// run, next to the baseline run of the same size; nil without a dhtnode run.
func CheckVolumeGoals(runs []VolumeResult) []TargetResult {
	var d, base *VolumeResult
	for i := range runs {
		if runs[i].System == "dhtnode" && d == nil {
			d = &runs[i]
		}
	}
	if d == nil {
		return nil
	}
	for i := range runs {
		if runs[i].System == "baseline" && runs[i].Nodes == d.Nodes && base == nil {
			base = &runs[i]
		}
	}
	return checkGoals(volumeGoals(), *d, base)
}

// FormatVolumeReport renders the volume runs as one table per cluster size
// with notes, then the goals.
func FormatVolumeReport(runs []VolumeResult) string {
	var b strings.Builder
	for len(runs) > 0 {
		n := runs[0].Nodes
		var cols, rest []VolumeResult
		for _, r := range runs {
			if r.Nodes == n {
				cols = append(cols, r)
			} else {
				rest = append(rest, r)
			}
		}
		runs = rest
		fmt.Fprintf(&b, "\n== volume: N=%d, %d keys of %d B (client-facing nodes: %d)\n", n, cols[0].Keys, cols[0].ValueSize, cols[0].ClientNodes)
		systems := make([]string, len(cols))
		for i, r := range cols {
			systems[i] = r.System
		}
		writeTable(&b, systems, cols, volumeRows())
		for _, r := range cols {
			for _, note := range volumeNotes(r) {
				fmt.Fprintf(&b, "note: %s N=%d: %s\n", r.System, n, note)
			}
		}
	}
	return b.String()
}

// volumeNotes lists what went wrong in a volume run and what it could not
// measure.
func volumeNotes(r VolumeResult) []string {
	notes := []string{fmt.Sprintf("%.0f s; load average (1, 5, 15 min) %s at the start, %s at the end", r.WallSeconds, r.LoadAvg[0], r.LoadAvg[1])}
	if r.Error != "" {
		notes = append(notes, "run failed: "+r.Error)
	}
	for _, u := range r.UnexpectedExits {
		notes = append(notes, strings.SplitN(u, "\n", 2)[0])
	}
	var phases []PhaseResult
	if r.Load != nil {
		phases = append(phases, r.Load.PhaseResult)
		if r.Load.NotTried > 0 {
			notes = append(notes, fmt.Sprintf("-load-timeout left %d keys out", r.Load.NotTried))
		}
	}
	if r.Stored != nil && r.Stored.Quiet != nil && r.Stored.Quiet.TimedOut {
		notes = append(notes, "after the load, some node still counted under-replicated records at -converge-timeout")
	}
	if r.Rest != nil && r.Rest.RepairBytesPerMin == nil && r.System == "dhtnode" {
		notes = append(notes, "repair bytes n/a: /v1/status has no replication.repair_bytes_total")
	}
	notes = append(notes, restNotes(r.Rest)...)
	for _, s := range r.Kills {
		if s.Repaired != nil && s.Repaired.TimedOut {
			notes = append(notes, fmt.Sprintf("%s: keys not back on %d holders at -converge-timeout", s.Name, s.Expected))
		}
		if s.HolderErrors > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d holder queries failed", s.Name, s.HolderErrors))
		}
		phases = append(phases, s.Read)
	}
	if r.Join != nil && r.Join.CaughtUp != nil && r.Join.CaughtUp.TimedOut {
		notes = append(notes, "join: the record count kept changing until -converge-timeout")
	}
	for _, p := range phases {
		for _, e := range p.Errors {
			notes = append(notes, fmt.Sprintf("%s error: %s", p.Name, strings.TrimSpace(e)))
		}
	}
	return notes
}

// restNotes says how the repair figures of a rest window count, and lists
// its minutes.
func restNotes(r *RestResult) []string {
	if r == nil || r.Whole == nil {
		return nil
	}
	var notes []string
	if r.Whole.BothSides {
		notes = append(notes, "repair traffic sums repair_bytes_total (no repair_bytes_sent_total): each sync byte counted on both sides, up to 2x the traffic")
	} else {
		notes = append(notes, "repair traffic = repair_bytes_sent_total summed over the nodes (each byte once); bytes/min per node = repair_bytes_total (sent + received)")
	}
	var mins []string
	for _, w := range r.Minutes {
		if w.PerStoredHour != nil {
			mins = append(mins, fmt.Sprintf("%.0f-%.0f s %.3f", w.From, w.To, 100**w.PerStoredHour))
		}
	}
	if len(mins) > 0 {
		notes = append(notes, "rest repair traffic/h % of stored by minute: "+strings.Join(mins, ", "))
	}
	return notes
}
