package main

import (
	"strings"
	"testing"
	"time"
)

// volumeRun returns a finished volume run of the given system with round
// figures; the baseline has no record counts, repair or join.
func testVolumeRun(system string) VolumeResult {
	read := PhaseResult{Name: "kill-1-read", Ops: 200, OK: 200, Latency: LatencySummary{P50: 3}}
	r := VolumeResult{System: system, Nodes: 20, ClientNodes: 5, Keys: 10000, ValueSize: 1024,
		ReadySeconds: 3, SettleSeconds: 4, WallSeconds: 300, LoadAvg: [2]string{"9.1 8.0 7.5", "10.2 9.0 8.1"},
		Load:   &LoadResult{PhaseResult: PhaseResult{Name: "load", Ops: 10000, OK: 9990, OpsPerSec: 500}, MedianPutsPerSec: 400, Failed: 10},
		Stored: &StoredResult{RSSMiB: CountSummary{Median: 40, Max: 50}},
		Rest:   &RestResult{Seconds: 60, CPUCores: CountSummary{Median: 0.01, Max: 0.03}},
		Kills: []KillStep{
			{Name: "kill-1", Killed: 1, KilledTotal: 1, LiveNodes: 19, Expected: 8, Holders: CountSummary{Min: 19, Median: 19}, Read: read},
			{Name: "kill-2", Killed: 5, KilledTotal: 6, LiveNodes: 14, Expected: 8, Holders: CountSummary{Min: 14, Median: 14}, Read: read},
		},
	}
	if system == "baseline" {
		return r
	}
	disk, records := CountSummary{Median: 12, Max: 15}, CountSummary{Median: 4000, Max: 5000}
	r.Stored.DiskMiB, r.Stored.Records, r.Stored.StoredBytes = &disk, &records, 100<<20
	r.Stored.Quiet = &Wait{After: 1500 * time.Millisecond, Held: true}
	perMin, share := CountSummary{Median: 1000, Max: 3000}, 0.002
	r.Rest.RepairBytesPerMin, r.Rest.RepairPerStoredHour = &perMin, &share
	r.Rest.Counters = &ReplicationCounters{Audits: 7}
	r.Kills[0].Repaired = &Wait{After: 12 * time.Second, Held: true}
	r.Kills[0].NoUnderSeconds = 9
	r.Kills[1].Repaired = &Wait{After: 75 * time.Second, TimedOut: true}
	r.Kills[1].Lost = 2
	r.Join = &JoinResult{CaughtUp: &Wait{Held: true}, CaughtUpSeconds: 20, Records: 5000, Expected: 5333.3}
	return r
}

func TestFormatVolumeReport(t *testing.T) {
	out := FormatVolumeReport([]VolumeResult{testVolumeRun("dhtnode"), testVolumeRun("baseline")})
	if !strings.Contains(out, "== volume: N=20, 10000 keys of 1024 B (client-facing nodes: 5)") {
		t.Errorf("no heading in:\n%s", out)
	}
	for label, want := range map[string][]string{
		"load puts/s (median of seconds)":    {"400.0", "400.0", "1.00"},
		"disk per node median MiB":           {"12.0", "-", "-"},
		"rest CPU % of a core per node max":  {"3.00", "3.00", "1.00"},
		"rest repair bytes/h % of stored":    {"0.200", "-", "-"},
		"rest audits (all nodes)":            {"7", "-", "-"},
		"kill 1 node: k holders again s":     {"12.0", "-", "-"},
		"kill wave: k holders again s":       {"-", "-", "-"}, // timed out
		"kill 1 node: under-replicated 0 s":  {"9.0", "-", "-"},
		"kill wave: sample keys lost":        {"2", "0", "-"},
		"join: records unchanged after s":    {"20.0", "-", "-"},
		"records per node median":            {"4000", "-", "-"},
		"stored MiB (all nodes)":             {"100.0", "-", "-"},
		"under-replicated 0 after load s":    {"1.5", "-", "-"},
		"rest repair bytes/min per node max": {"3000", "-", "-"},
	} {
		if got := cells(t, out, label); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %q, want %q", label, got, want)
		}
	}
	for _, note := range []string{
		"note: dhtnode N=20: 300 s; load average (1, 5, 15 min) 9.1 8.0 7.5 at the start, 10.2 9.0 8.1 at the end",
		"note: dhtnode N=20: kill-2: keys not back on 8 holders at -converge-timeout",
	} {
		if !strings.Contains(out, note) {
			t.Errorf("no %q in:\n%s", note, out)
		}
	}
	if strings.Contains(out, "note: baseline N=20: repair bytes n/a") {
		t.Error("the baseline is not expected to report repair bytes")
	}
}

func TestFormatVolumeReportSaysRepairBytesAreMissing(t *testing.T) {
	r := testVolumeRun("dhtnode")
	r.Rest.RepairBytesPerMin, r.Rest.RepairPerStoredHour = nil, nil
	out := FormatVolumeReport([]VolumeResult{r})
	if !strings.Contains(out, "repair bytes n/a: /v1/status has no replication.repair_bytes_total") {
		t.Errorf("no n/a note in:\n%s", out)
	}
	if got := cells(t, out, "rest repair bytes/h % of stored"); got[0] != "-" {
		t.Errorf("repair share %q, want -", got)
	}
}

func TestCheckVolumeGoals(t *testing.T) {
	got := CheckVolumeGoals([]VolumeResult{testVolumeRun("baseline"), testVolumeRun("dhtnode")})
	verdict := map[string]TargetResult{}
	for _, g := range got {
		verdict[g.Target] = g
	}
	for label, met := range map[string]bool{
		"rest repair bytes/h % of stored":                 true,  // 0.2 %
		"rest CPU % of a core per node max":               false, // 3 %
		"kill 1 node: k holders again s":                  true,  // 12 s
		"sample keys lost":                                false, // 2
		"RSS after load max MiB (goal at 40,000 records)": true,  // 50 MiB
		"load puts/s, 8 clients (median)":                 false, // 400
	} {
		if g, ok := verdict[label]; !ok || !g.Measured || g.Met != met {
			t.Errorf("%s: %+v, want measured and met=%v", label, g, met)
		}
	}
	if g := verdict["kill 25%: k holders again s"]; !g.Measured || g.Met || g.Value != 75 {
		t.Errorf("a repair that timed out after 75 s: %+v, want missed at 75", g)
	}
	if g := verdict["load puts/s, 8 clients (median)"]; g.Baseline == nil || *g.Baseline != 400 {
		t.Errorf("load goal: baseline %v, want 400", g.Baseline)
	}
	if CheckVolumeGoals([]VolumeResult{testVolumeRun("baseline")}) != nil {
		t.Error("goals checked without a dhtnode run")
	}
}
