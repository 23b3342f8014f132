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
	r.Rest.repairWindows(testRepairSamples(), r.Stored.StoredBytes, time.Minute)
	r.Rest.Counters = &ReplicationCounters{Audits: 7}
	r.Kills[0].Repaired = &Wait{After: 12 * time.Second, Held: true}
	r.Kills[0].NoUnderSeconds = 9
	r.Kills[1].Repaired = &Wait{After: 75 * time.Second, TimedOut: true}
	r.Kills[1].Lost = 2
	r.Join = &JoinResult{CaughtUp: &Wait{Held: true}, CaughtUpSeconds: 20, Records: 5000, Expected: 5333.3}
	return r
}

// testRepairSamples are two nodes' repair counters over a 3-minute rest:
// 30,000 B sent (60,000 B sent and received) each in the first minute, 100
// (200) a minute after.
func testRepairSamples() []repairSample {
	return []repairSample{
		{at: 0, total: []float64{0, 0}, sent: []float64{0, 0}},
		{at: time.Minute, total: []float64{60000, 60000}, sent: []float64{30000, 30000}},
		{at: 2 * time.Minute, total: []float64{60200, 60200}, sent: []float64{30100, 30100}},
		{at: 3 * time.Minute, total: []float64{60400, 60400}, sent: []float64{30200, 30200}},
	}
}

func TestRepairWindows(t *testing.T) {
	const stored = 100 << 20
	var r RestResult
	r.repairWindows(testRepairSamples(), stored, 90*time.Second)
	if r.Whole == nil || r.Steady == nil || len(r.Minutes) != 3 {
		t.Fatalf("windows: whole %v, steady %v, %d minutes; want all, 3 minutes", r.Whole, r.Steady, len(r.Minutes))
	}
	// The steady window starts at the first sample at or after the skip.
	if r.Steady.From != 120 || r.Steady.To != 180 || r.Steady.TrafficPerMin != 200 || r.Steady.BothSides {
		t.Errorf("steady %+v, want 120-180 s, 200 B/min sent", *r.Steady)
	}
	if m := r.Minutes[0]; m.TrafficPerMin != 60000 || m.BytesPerMin.Max != 60000 || m.SentPerMin.Max != 30000 {
		t.Errorf("minute 1 %+v, want 60,000 B/min of traffic", m)
	}
	// The old figure sums repair_bytes_total: twice the traffic.
	if got, want := *r.RepairPerStoredHour, 2*r.Whole.TrafficPerMin*60/stored; got != want {
		t.Errorf("repair_per_stored_hour %v, want %v", got, want)
	}

	// Without repair_bytes_sent_total the traffic is the both-sides sum,
	// and says so; with no sample past the skip there is no steady window.
	samples := testRepairSamples()
	for i := range samples {
		samples[i].sent = nil
	}
	r = RestResult{}
	r.repairWindows(samples, stored, 5*time.Minute)
	if r.Whole == nil || !r.Whole.BothSides || r.Whole.TrafficPerMin != 2*60400.0/3 || r.Steady != nil {
		t.Errorf("without sent counters: whole %+v, steady %v; want both sides, no steady window", r.Whole, r.Steady)
	}
}

func TestFormatVolumeReport(t *testing.T) {
	out := FormatVolumeReport([]VolumeResult{testVolumeRun("dhtnode"), testVolumeRun("baseline")})
	if !strings.Contains(out, "== volume: N=20, 10000 keys of 1024 B (client-facing nodes: 5)") {
		t.Errorf("no heading in:\n%s", out)
	}
	for label, want := range map[string][]string{
		"load puts/s (median of seconds)":                       {"400.0", "400.0", "1.00"},
		"disk per node median MiB":                              {"12.0", "-", "-"},
		"rest CPU % of a core per node max":                     {"3.00", "3.00", "1.00"},
		"rest repair traffic/h % of stored":                     {"1.152", "-", "-"},
		"rest minute 1: repair traffic/h % of stored":           {"3.433", "-", "-"},
		"rest steady (after -rest-skip): traffic/h % of stored": {"0.011", "-", "-"},
		"rest steady: bytes sent/min per node max":              {"100", "-", "-"},
		"rest audits (all nodes)":                               {"7", "-", "-"},
		"kill 1 node: k holders again s":                        {"12.0", "-", "-"},
		"kill wave: k holders again s":                          {"-", "-", "-"}, // timed out
		"kill 1 node: under-replicated 0 s":                     {"9.0", "-", "-"},
		"kill wave: sample keys lost":                           {"2", "0", "-"},
		"join: records unchanged after s":                       {"20.0", "-", "-"},
		"records per node median":                               {"4000", "-", "-"},
		"stored MiB (all nodes)":                                {"100.0", "-", "-"},
		"under-replicated 0 after load s":                       {"1.5", "-", "-"},
		"rest repair bytes/min per node max":                    {"20133", "-", "-"},
	} {
		if got := cells(t, out, label); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %q, want %q", label, got, want)
		}
	}
	for _, note := range []string{
		"note: dhtnode N=20: 300 s; load average (1, 5, 15 min) 9.1 8.0 7.5 at the start, 10.2 9.0 8.1 at the end",
		"note: dhtnode N=20: kill-2: keys not back on 8 holders at -converge-timeout",
		"note: dhtnode N=20: repair traffic = repair_bytes_sent_total summed over the nodes (each byte once)",
		"note: dhtnode N=20: rest repair traffic/h % of stored by minute: 0-60 s 3.433, 60-120 s 0.011, 120-180 s 0.011",
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
	*r.Rest = RestResult{Seconds: 60}
	out := FormatVolumeReport([]VolumeResult{r})
	if !strings.Contains(out, "repair bytes n/a: /v1/status has no replication.repair_bytes_total") {
		t.Errorf("no n/a note in:\n%s", out)
	}
	if got := cells(t, out, "rest repair traffic/h % of stored"); got[0] != "-" {
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
		"rest repair traffic/h % of stored (steady if measured)": true,  // 0.011 %, 1.15 % over the whole window
		"rest CPU % of a core per node max":                      false, // 3 %
		"kill 1 node: k holders again s":                         true,  // 12 s
		"sample keys lost":                                       false, // 2
		"RSS after load max MiB (goal at 40,000 records)":        true,  // 50 MiB
		"load puts/s, 8 clients (median)":                        false, // 400
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
